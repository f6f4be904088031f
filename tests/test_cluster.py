"""The worker on a Redis Cluster: 3 masters + 3 replicas of local redis-server, the SMSC simulator, no mocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec
import pytest
import redis as sync_redis
from argon2 import PasswordHasher
from conftest import sender

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.governance.admission import Gate
from taxsms.governance.audit import AuditLog
from taxsms.governance.campaigns import CampaignBook
from taxsms.governance.operators import OperatorBook
from taxsms.governance.units import UnitTree, load_units, save_units
from taxsms.queue.cluster import LocalCluster
from taxsms.queue.connect import AnyRedis, keys_for
from taxsms.queue.jobs import CHINA, FINAL_STATES
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies.inbox import Inbox
from taxsms.replies.subscriptions import SubscriptionBook
from taxsms.templates.catalog import TemplateCatalog

FINAL = tuple(FINAL_STATES)
SHORT = "【某市税务局】您本月增值税申报期限为15日，请及时申报。"
LONG = "【某市税务局】" + "根据国家税务总局公告，请纳税人按期办理申报并缴纳税款，逾期将依法加收滞纳金。" * 4


@pytest.fixture
async def simulator() -> AsyncIterator[SmscSimulator]:
    sim = SmscSimulator(SimulatorConfig(dlr_ms=20, latency_ms=2))
    await sim.start()
    yield sim
    await sim.stop()


def campaign(prefix: str, n: int) -> list[bytes]:
    """n jobs of mixed kinds, one in ten a 3-part message."""
    kinds = ("filing_reminder", "overdue_payment", "overdue_payment", "reply")  # overdue_filing: the quota's kind
    return [
        msgspec.json.encode(
            {"id": f"{prefix}-{i}", "kind": kinds[i % 4], "to": f"139{i:08d}", "text": LONG if i % 10 == 0 else SHORT}
        )
        for i in range(n)
    ]


def workers(url: str, keys: Keys, sim: SmscSimulator, count: int) -> list[Worker]:
    """`count` in-process workers sharing a 1,000 segments/s limit; a dead one's entries are reclaimed after 2 s."""
    common = {"send_window": "00:00-24:00", "unknown_subscription": "send", "daily_caps": "", "tps": 1000.0,
              "quota_kinds": "overdue_filing"}  # fmt: skip
    return [
        Worker(
            WorkerConfig(
                redis_url=url,
                prefix=keys.prefix,
                smsc_port=sim.port,
                system_id=sim.config.system_id,
                block_ms=50,
                claim_idle_s=2.0,
                consumer=f"w{i}",
                **common,  # type: ignore[arg-type]
            )
        )
        for i in range(count)
    ]


async def finished(store: JobStore) -> int:
    counts = await store.counts()
    return sum(counts[state] for state in FINAL)


async def run_until_final(ws: list[Worker], store: JobStore, total: int, during: object = None) -> float:
    """Run the workers until `total` jobs are final; `during` (a coroutine) runs alongside. Returns seconds."""
    start = time.monotonic()
    tasks = [asyncio.create_task(w.run()) for w in ws]
    side = asyncio.ensure_future(during) if during is not None else None
    try:
        while await finished(store) < total:
            assert time.monotonic() - start < 45, await store.counts()
            for task in tasks:
                if task.done():
                    task.result()  # a dead worker: raise its error
            await asyncio.sleep(0.2)
        if side is not None:
            await side
    finally:
        for w in ws:
            w.stop()
        await asyncio.gather(*tasks)
    return time.monotonic() - start


def primaries_holding_keys(cluster: LocalCluster, prefix: str) -> int:
    held = 0
    for node in cluster.primaries():
        with sync_redis.Redis(port=node.port) as client:
            held += any(True for _ in client.scan_iter(f"{{{prefix}:*", count=1000))
    return held


async def test_a_campaign_runs_through_a_cluster(
    cluster: LocalCluster, cluster_client: AnyRedis, simulator: SmscSimulator
) -> None:
    keys = keys_for(cluster_client, "c1")
    assert keys.shards > 1
    jobs = campaign("c1", 3000)
    # city-01 used its quota of 5 in shard 0 alone; its overdue notices (a quota kind here) to phones of other
    # shards stop all the same.
    month = f"{datetime.now(CHINA):%Y-%m}"
    await cluster_client.hset(keys.shard(0).usage(month), "city-01|*", 9)
    for shard in keys.every_shard():
        await cluster_client.set(shard.quota("city-01"), 5)
    phones = [f"1380000{n:04d}" for n in range(100) if keys.for_phone(f"1380000{n:04d}").shard_index != 0][:5]
    over = [{"id": f"q{n}", "kind": "overdue_filing", "to": p, "text": SHORT} for n, p in enumerate(phones)]
    send = await sender(cluster_client, keys)  # for city-01
    assert await send.enqueue([msgspec.json.encode(job) for job in over]) == (5, 0)
    subscriptions = SubscriptionBook(cluster_client, keys)
    await subscriptions.unsubscribe("13900000004", "sms", time.time())  # job c1-4 is a reminder
    assert await send.enqueue(jobs) == (3000, 0)
    duplicate_id = msgspec.json.encode({"id": "c1-7", "kind": "overdue_filing", "to": "13700000000", "text": SHORT})
    assert await send.enqueue([*jobs[:10], duplicate_id]) == (0, 0)  # deduped, whatever shard
    store = JobStore(cluster_client, keys)
    seconds = await run_until_final(workers(cluster.url, keys, simulator, 2), store, 3005)

    counts = await store.counts()
    print(f"\n3,000 jobs through the cluster in {seconds:.1f}s: {counts}, simulator {simulator.stats}")
    assert counts["delivered"] == 2999 and counts["suppressed"] == 1 + 5
    assert sum(counts.values()) == 3005
    assert simulator.stats.duplicates == 0
    stats = await store.stats()
    assert stats["segments"] == simulator.stats.accepted == 2700 + 300 * 3 - 1
    record = await store.job("c1-10")
    assert record is not None and record["state"] == "delivered" and record["parts"] == "3"
    assert (await store.job("c1-4") or {}).get("error") == "unsubscribed"
    assert (await store.job("q0") or {}).get("error") == "monthly quota reached for city-01"
    assert primaries_holding_keys(cluster, "c1") >= 2


async def test_a_master_fails_over_during_a_campaign_and_nothing_is_lost(
    cluster: LocalCluster, cluster_client: AnyRedis, simulator: SmscSimulator
) -> None:
    keys = keys_for(cluster_client, "c2")
    assert await (await sender(cluster_client, keys)).enqueue(campaign("c2", 3000)) == (3000, 0)
    store = JobStore(cluster_client, keys)
    victim = cluster.primaries()[1]

    async def failover() -> None:
        while await finished(store) < 600:
            await asyncio.sleep(0.05)
        promoted = await asyncio.to_thread(cluster.failover, victim)
        print(f"\nfailed over port {victim.port} to {promoted.port} with {await finished(store)} jobs final")

    seconds = await run_until_final(workers(cluster.url, keys, simulator, 2), store, 3000, failover())
    counts = await store.counts()
    print(f"3,000 jobs with a failover in {seconds:.1f}s: {counts}; resent at the SMSC: {simulator.stats.duplicates}")
    assert counts["delivered"] == 3000
    assert sum(counts.values()) == 3000
    assert simulator.stats.duplicates <= 2 * 64  # only submits in flight on the failed master's shards
    assert victim not in cluster.primaries()


async def test_the_control_plane_works_on_a_cluster(cluster: LocalCluster, cluster_client: AnyRedis) -> None:
    """Operators, four-eyes approval, the staff inbox, the audit chain and templates: their transactions and
    scripts span several keys, all under the `{prefix}` tag, so they run on a cluster as on one Redis."""
    keys = keys_for(cluster_client, "c3")
    tree = UnitTree.from_file()
    await save_units(cluster_client, keys, tree)
    assert len(await load_units(cluster_client, keys)) == len(tree)
    book = OperatorBook(cluster_client, keys, tree, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    root = await book.bootstrap("P001", "王省", "correct horse")
    admin = await book.add(root, "C001", "赵市", "city-east", ["admin"], "correct horse")
    author = await book.add(admin, "C010", "钱市", "city-east", ["publisher"], "correct horse")
    approver = await book.add(admin, "C011", "陈市", "city-east", ["publisher"], "correct horse")
    author = await book.confirm(root, author.id)  # new accounts: confirmed by the level above
    approver = await book.confirm(root, approver.id)
    campaigns = CampaignBook(cluster_client, keys, tree, book)
    recipients = [(f"1390000{n:04d}", "county-e1") for n in range(40)]
    created = await campaigns.create(author, "请于本月15日前完成申报。", recipients, name="申报提醒")
    assert await campaigns.approve(approver, created.id) == 40
    status = await campaigns.status(created.id)
    assert status.counts == {"queued": 40}  # the jobs landed in several shards, each found by its id

    inbox = Inbox(cluster_client, keys)
    ticket, new = await inbox.create(
        "13800138000", "请问个体户季度销售额多少以内免征增值税？", mo_id="mo-1", unit="city-east"
    )
    assert new and not (await inbox.create("13800138000", "同一条", mo_id="mo-1"))[1]
    staff = await book.add(admin, "C020", "周客服", "city-east", ["staff12366"], "correct horse")
    answer = await inbox.answer(ticket.id, staff, "季度销售额30万元以下免征增值税。", Gate(cluster_client, keys))
    assert await JobStore(cluster_client, keys).enqueue([answer]) == 1
    assert [t.id for t in await inbox.list("answered")] == [ticket.id]

    audit = AuditLog(cluster_client, keys)
    for n in range(5):
        await audit.append("P001", "test", f"entry-{n}")
    verified = await audit.verify()
    assert verified.ok and verified.entries >= 5

    catalog = TemplateCatalog.from_dir()
    await catalog.save_to_redis(cluster_client, keys)
    assert len(await TemplateCatalog.load_from_redis(cluster_client, keys)) == len(catalog)
