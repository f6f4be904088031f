"""The worker end to end: real Redis, the SMSC simulator over real TCP, no mocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
from conftest import sender, wait_until
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.queue.jobs import FINAL_STATES
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer

FINAL = tuple(FINAL_STATES)
LONG_CHINESE = "【某市税务局】" + "根据国家税务总局公告，请纳税人按期办理申报并缴纳税款，逾期将依法加收滞纳金。" * 4


def job(i: int, text: str = "【某市税务局】您本月增值税申报期限为15日，请及时申报。", **extra: object) -> bytes:
    return msgspec.json.encode({"id": f"j{i}", "kind": "filing_reminder", "to": f"139{i:08d}", "text": text, **extra})


@pytest.fixture
async def simulator() -> AsyncIterator[SmscSimulator]:
    sim = SmscSimulator(SimulatorConfig(dlr_ms=20))
    await sim.start()
    yield sim
    await sim.stop()


BENCH_LIKE = {"unknown_subscription": "send", "daily_caps": ""}  # made-up phones: no records, no caps


def worker_for(redis_url: str, keys: Keys, sim: SmscSimulator, **overrides: object) -> Worker:
    config = WorkerConfig(
        redis_url=redis_url,
        prefix=keys.prefix,
        smsc_port=sim.port,
        system_id=sim.config.system_id,
        block_ms=50,
        **{"password": sim.config.password or "", "send_window": "00:00-24:00", **BENCH_LIKE, **overrides},  # type: ignore[arg-type]
    )
    return Worker(config)


async def all_final(worker: Worker, total: int) -> bool:
    counts = await worker.store.counts()
    return sum(counts[s] for s in FINAL) >= total


async def test_jobs_are_sent_and_tracked_to_their_receipts(
    redis: Redis, redis_url: str, keys: Keys, simulator: SmscSimulator
) -> None:
    lines = [job(i) for i in range(150)] + [job(1000 + i, LONG_CHINESE) for i in range(50)]
    added, refused = await (await sender(redis, keys)).enqueue(lines)
    assert (added, refused) == (200, 0)
    worker = worker_for(redis_url, keys, simulator)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: all_final(worker, 200))
    worker.stop()
    await task

    counts = await worker.store.counts()
    assert counts["delivered"] == 200
    assert counts["queued"] == counts["submitting"] == counts["submitted"] == 0
    stats = await worker.store.stats()
    assert stats["segments"] == 150 + 50 * 3 == simulator.stats.accepted
    assert simulator.stats.duplicates == 0
    assert simulator.stats.concat_complete == 50
    record = await worker.store.job("j1000")
    assert record is not None
    assert record["state"] == "delivered" and record["parts"] == "3"
    assert all(record[f"m{p}"] for p in (1, 2, 3))
    assert (await redis.xpending(keys.intake, "dispatchers"))["pending"] == 0


async def test_enqueue_is_idempotent(redis: Redis, keys: Keys) -> None:
    assert await (await sender(redis, keys)).enqueue([job(1), job(2)]) == (2, 0)
    assert await (await sender(redis, keys)).enqueue([job(1), job(2), job(3)]) == (1, 0)
    assert await redis.xlen(keys.lane(2)) == 3  # filing reminders travel in the reminder lane


async def test_bad_jobs_are_dead_lettered_with_a_reason_and_the_worker_goes_on(
    redis: Redis, redis_url: str, keys: Keys, simulator: SmscSimulator
) -> None:
    bad = {
        "b-json": b"{not json",
        "b-kind": msgspec.json.encode({"id": "b-kind", "kind": "lottery", "to": "13900000001", "text": "x"}),
        "b-phone": msgspec.json.encode({"id": "b-phone", "kind": "notice", "to": "12345", "text": "【某县税务局】x"}),
        "b-anon": msgspec.json.encode({"id": "b-anon", "kind": "notice", "to": "13900000001", "text": "无署名的通知"}),
        "b-empty": msgspec.json.encode({"id": "b-empty", "kind": "notice", "to": "13900000001", "text": " "}),
        "b-long": msgspec.json.encode({"id": "b-long", "kind": "notice", "to": "13900000001", "text": "长" * 5000}),
        "b-field": msgspec.json.encode({"id": "b-field", "kind": "notice", "to": "13900000001", "text": "x", "zz": 1}),
    }
    for job_id, payload in bad.items():  # straight into the stream, as an upstream system may do
        await redis.xadd(keys.intake, {"id": job_id, "job": payload})
    await (await sender(redis, keys)).enqueue([job(i) for i in range(20)])
    worker = worker_for(redis_url, keys, simulator)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: all_final(worker, 27))
    worker.stop()
    await task

    counts = await worker.store.counts()
    assert counts["dead_lettered"] == 7 and counts["delivered"] == 20
    dead = {f[b"id"].decode(): f for _, f in await redis.xrange(keys.dead_letters)}
    assert set(dead) == set(bad)
    assert dead["b-kind"][b"field"] == b"kind"
    assert dead["b-phone"][b"field"] == b"to"
    assert dead["b-empty"][b"field"] == b"text"
    assert dead["b-anon"][b"reason"].startswith(b"a raw intake entry must name its registered system")
    assert dead["b-long"][b"field"] == b"text"
    assert dead["b-field"][b"field"] == b"zz"
    assert dead["b-json"][b"reason"].startswith(b"not a JSON object")
    assert dead["b-phone"][b"job"] == bad["b-phone"]


async def test_permanent_smsc_error_fails_the_job_with_the_status(redis: Redis, redis_url: str, keys: Keys) -> None:
    async with SmscSimulator(SimulatorConfig(reject_prefixes=("8613900000",))) as sim:
        await (await sender(redis, keys)).enqueue([job(1), job(100_000)])
        worker = worker_for(redis_url, keys, sim)
        task = asyncio.create_task(worker.run())
        await wait_until(lambda: all_final(worker, 2))
        worker.stop()
        await task
    failed = await worker.store.job("j1")
    assert failed is not None and failed["state"] == "failed"
    assert failed["smpp_status"] == str(0x0B) and "ESME_RINVDSTADR" in failed["error"]
    ok = await worker.store.job("j100000")
    assert ok is not None and ok["state"] == "delivered"


async def test_throttling_slows_down_and_loses_nothing(redis: Redis, redis_url: str, keys: Keys) -> None:
    async with SmscSimulator(SimulatorConfig(tps=300, dlr_ms=10)) as sim:
        await (await sender(redis, keys)).enqueue([job(i) for i in range(600)])
        worker = worker_for(redis_url, keys, sim)
        task = asyncio.create_task(worker.run())
        await wait_until(lambda: all_final(worker, 600))
        worker.stop()
        await task
        assert sim.stats.throttled > 0
        assert sim.stats.accepted == 600
    counts = await worker.store.counts()
    assert counts["delivered"] == 600 and counts["failed"] == 0
    assert worker.pool is not None and worker.pool.stats().throttled == sim.stats.throttled


async def test_connection_drops_mid_batch_lose_nothing(redis: Redis, redis_url: str, keys: Keys) -> None:
    window = 32
    async with SmscSimulator(SimulatorConfig(latency_ms=20, dlr_ms=10)) as sim:
        await (await sender(redis, keys)).enqueue([job(i) for i in range(3000)])
        worker = worker_for(redis_url, keys, sim, window=window)
        task = asyncio.create_task(worker.run())
        drops = 3
        for n in range(drops):
            await wait_until(lambda n=n: sim.stats.accepted > 500 * (n + 1))
            sim.drop_connections()
        await wait_until(lambda: all_final(worker, 3000), timeout=60)
        worker.stop()
        await task
        resent = worker.pool.stats().resent_after_loss if worker.pool else 0
        print(f"\ndrops={drops} resent_after_loss={resent} simulator duplicates={sim.stats.duplicates}")
        assert sim.stats.duplicates <= resent <= window * drops
    counts = await worker.store.counts()
    assert counts["delivered"] == 3000


async def test_window_is_never_exceeded(redis: Redis, redis_url: str, keys: Keys) -> None:
    async with SmscSimulator(SimulatorConfig(latency_ms=30, dlr_ms=10)) as sim:
        await (await sender(redis, keys)).enqueue([job(i) for i in range(400)])
        worker = worker_for(redis_url, keys, sim, window=8, binds=2)
        task = asyncio.create_task(worker.run())
        await wait_until(lambda: all_final(worker, 400))
        worker.stop()
        await task
        assert sim.stats.max_in_flight_per_bind == 8


async def test_a_crashed_worker_leftovers_are_reclaimed_once(
    redis: Redis, redis_url: str, keys: Keys, simulator: SmscSimulator
) -> None:
    await (await sender(redis, keys)).enqueue([job(i) for i in range(50)])
    await redis.xgroup_create(keys.lane(2), "dispatchers", id="0")
    # A worker read 30 entries and died before sending them.
    await redis.xreadgroup("dispatchers", "dead-worker", {keys.lane(2): ">"}, count=30)
    worker = worker_for(redis_url, keys, simulator, claim_idle_s=0.3)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: all_final(worker, 50))
    worker.stop()
    await task
    assert worker.stats.reclaimed == 30
    assert simulator.stats.accepted == 50 and simulator.stats.duplicates == 0


async def test_redis_restart_mid_run_loses_nothing(own_redis: RedisServer, keys: Keys) -> None:
    redis = Redis.from_url(own_redis.url)
    await (await sender(redis, keys)).enqueue([job(i) for i in range(2000)])
    await redis.aclose()
    async with SmscSimulator(SimulatorConfig(latency_ms=10, dlr_ms=10)) as sim:
        worker = worker_for(own_redis.url, keys, sim)
        task = asyncio.create_task(worker.run())
        await wait_until(lambda: sim.stats.accepted > 400)
        own_redis.stop()  # graceful: AOF flushed
        await asyncio.sleep(0.5)
        own_redis.start()
        await wait_until(lambda: all_final(worker, 2000), timeout=60)
        worker.stop()
        await task
        assert sim.stats.accepted - sim.stats.duplicates == 2000
    counts = await worker.store.counts()
    assert counts["delivered"] == 2000
