"""The directory on a Redis Cluster (3 masters + 3 replicas): records, consent and filed marks spread over
the shards; reminders planned from it go out, and the claim-time checks (filed, SMS opt-out) hold per shard."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import sender, wait_until

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.directory.audiences import Audience, AudienceKind, resolve
from taxsms.directory.deadlines import Filing
from taxsms.directory.directory import Directory
from taxsms.directory.filings import FilingBook, FilingEvent
from taxsms.directory.ids import uscc_check_character
from taxsms.directory.imports import import_file
from taxsms.directory.reminders import plan_reminders
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.governance.units import UnitTree, save_units
from taxsms.holidays import PACKAGE
from taxsms.queue.cluster import LocalCluster
from taxsms.queue.connect import AnyRedis, keys_for
from taxsms.queue.store import JobStore
from taxsms.replies.subscriptions import How
from taxsms.templates.catalog import TemplateCatalog

TREE = UnitTree.from_file()
VAT = Filing("VAT", "2026-11")
N = 60


def uscc(n: int) -> str:
    first = f"91350100{n:09d}"
    return first + uscc_check_character(first)


async def test_reminders_from_the_directory_on_a_cluster(
    cluster: LocalCluster, cluster_client: AnyRedis, tmp_path: Path
) -> None:
    keys = keys_for(cluster_client, "d1")
    assert keys.shards > 1
    path = tmp_path / "taxpayers.csv"
    rows = [f"{uscc(i)},纳税人{i},county-e1,139{i:08d}:legal:{int(i % 4 != 0)};137{i:08d}:finance\n" for i in range(N)]
    path.write_text("taxpayer_id,name,unit,phones\n" + "".join(rows), encoding="utf-8")
    directory = Directory(cluster_client, keys)  # type: ignore[arg-type]
    assert (await import_file(directory, TREE, path)).stored == N
    assert await directory.count() == N
    assert len({keys.taxpayer_shard(uscc(i)) for i in range(N)}) == keys.shards  # records on every shard
    filings = FilingBook(cluster_client, keys, directory)  # type: ignore[arg-type]
    await filings.record([FilingEvent(uscc(i), VAT, 0.0) for i in range(1, N, 2)])  # the odd ones filed
    audience = await resolve(directory, TREE, Audience(AudienceKind.TAXPAYERS, "county-e1", True, VAT))
    expected = sorted(f"139{i:08d}" for i in range(0, N, 2) if i % 4 != 0)
    assert sorted(phone for phone, _ in audience.recipients) == expected

    await save_units(cluster_client, keys, TREE)  # type: ignore[arg-type]
    send = await sender(cluster_client, keys)  # the province's system
    plan = await plan_reminders(directory, TREE, TemplateCatalog.from_dir(), VAT, sender=send.principal,
                                days_before=0, tps=100,
                                windows=WindowPolicy.build("00:00-24:00"), calendar=PACKAGE,
                                clock=lambda: 1_796_000_000.0)  # 2026-11-30 08:53 China time  # fmt: skip
    assert sorted(job.to for job in plan.jobs) == expected
    store = JobStore(cluster_client, keys)  # type: ignore[arg-type]
    assert await store.enqueue(await send.jobs(plan.jobs)) == len(expected)
    # after planning: taxpayer 2 files, taxpayer 6's phone opts out by SMS
    await filings.record([FilingEvent(uscc(2), VAT, 1.0)])
    await directory.consent.unsubscribe(f"139{6:08d}", How.SMS, 2.0, ref="mo-1", detail="TD")

    sim = SmscSimulator(SimulatorConfig(dlr_ms=5))
    await sim.start()
    worker = Worker(WorkerConfig(redis_url=cluster.url, prefix=keys.prefix, smsc_port=sim.port, block_ms=20,
                                 send_window="00:00-24:00"), redis=cluster_client)  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        ids = [job.id for job in plan.jobs]
        await wait_until(lambda: _final(store, ids), timeout=30)
        records = {job.to: await store.job(job.id) or {} for job in plan.jobs}
    finally:
        worker.stop()
        await task
        await sim.stop()
    assert records[f"139{2:08d}"]["error"] == "filed"
    assert records[f"139{6:08d}"]["error"] == "unsubscribed"
    delivered = sorted(to for to, record in records.items() if record["state"] == "delivered")
    assert delivered == [p for p in expected if p not in (f"139{2:08d}", f"139{6:08d}")]


async def _final(store: JobStore, ids: list[str]) -> bool:
    return all(state in ("delivered", "suppressed") for state in await store.states(ids))
