"""Flow control end to end on real Redis and the simulator: windows, priorities, caps, expiry, retries.

Business time comes from an injected clock, so window edges are exact and nothing waits for 08:00.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import msgspec
import pytest
from conftest import sender, wait_until
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.dispatcher.admission import CALENDAR_RECHECK_S
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.queue.jobs import CHINA, FINAL_STATES
from taxsms.queue.keys import Keys


def china(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA).timestamp()


class Clock:
    """Business time the test sets; `tick` seconds are added on every reading (0: frozen)."""

    def __init__(self, text: str, tick: float = 0.0) -> None:
        self.now, self.tick = china(text), tick

    def set(self, text: str) -> None:
        self.now = china(text)

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def line(i: int, kind: str = "filing_reminder", to: str | None = None, **extra: object) -> bytes:
    job = {"id": f"{kind}-{i}", "kind": kind, "to": to or f"139{i:08d}", "text": f"【某市税务局】第{i}号通知", **extra}
    return msgspec.json.encode(job)


@pytest.fixture
async def sim() -> AsyncIterator[SmscSimulator]:
    simulator = SmscSimulator(SimulatorConfig(dlr_ms=5))
    await simulator.start()
    yield simulator
    await simulator.stop()


def make_worker(redis_url: str, keys: Keys, sim: SmscSimulator, clock: Clock | None = None, **extra: object) -> Worker:
    config = WorkerConfig(
        redis_url=redis_url,
        prefix=keys.prefix,
        smsc_port=sim.port,
        block_ms=20,
        release_interval_s=0.02,
        unknown_subscription="send",
        **extra,  # type: ignore[arg-type]
    )
    return Worker(config, clock=clock or time.time)


async def counts(worker: Worker) -> dict[str, int]:
    return await worker.store.counts()


async def settled(worker: Worker, total: int, states: tuple[str, ...] = tuple(FINAL_STATES)) -> bool:
    c = await counts(worker)
    return sum(c[s] for s in states) >= total


async def test_window_holds_jobs_and_releases_them_at_the_opening(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator
) -> None:
    clock = Clock("2026-11-23 07:59:50")
    await (await sender(redis, keys)).enqueue([line(i) for i in range(20)] + [line(0, "reply", "13800000000")])
    worker = make_worker(redis_url, keys, sim, clock)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: settled(worker, 20, ("delayed",)))  # all 20 held: the clock stands before 08:00
    await wait_until(lambda: settled(worker, 1, ("submitted", "delivered")))
    assert sim.stats.accepted == 1  # only the reply: replies go at any hour
    record = await worker.store.job("filing_reminder-3")
    assert record is not None and record["state"] == "delayed"
    assert float(record["release_at"]) == china("2026-11-23 08:00:00")
    clock.set("2026-11-23 08:00:00")
    await wait_until(lambda: sim.stats.accepted >= 21)
    worker.stop()
    await task
    record = await worker.store.job("filing_reminder-3") or {}
    assert float(record["at:delayed"]) < china("2026-11-23 08:00:00") <= float(record["at:submitted"])
    events = [fields for _, fields in await redis.xrange(keys.events) if fields[b"job"] == b"filing_reminder-3"]
    assert [e[b"state"] for e in events][:2] == [b"delayed", b"submitted"]


async def test_a_year_without_holiday_data_holds_staff_jobs_and_replies_still_go(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator, tmp_path: Path
) -> None:
    """New Year's Eve after 18:00, days off skipped, no 2027 data in chinese_calendar: the reminder's next
    opening cannot be known, so it waits (decided again every CALENDAR_RECHECK_S) and is neither refused nor
    sent; the reply goes. Given a calendar covering 2027 (a restart), it goes at the first working morning."""
    clock = Clock("2026-12-31 19:00:00")
    await (await sender(redis, keys)).enqueue([line(1), line(0, "reply", "13800000000")])
    worker = make_worker(redis_url, keys, sim, clock, days_off=True)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: settled(worker, 1, ("delayed",)))
    await wait_until(lambda: settled(worker, 1, ("submitted", "delivered")))
    record = await worker.store.job("filing_reminder-1") or {}
    events = [fields for _, fields in await redis.xrange(keys.events) if fields[b"job"] == b"filing_reminder-1"]
    assert record["state"] == "delayed" and b"waits for holiday data" in events[-1][b"detail"]
    assert b"no holiday data for 2027" in events[-1][b"detail"]
    assert float(record["release_at"]) == clock.now + CALENDAR_RECHECK_S
    clock.now += CALENDAR_RECHECK_S  # decided again: still unknown, so it waits again
    await wait_until(lambda: worker.stats.delayed >= 2)
    worker.stop()
    await task
    record = await worker.store.job("filing_reminder-1") or {}
    assert record["state"] == "delayed" and float(record["release_at"]) == clock.now + CALENDAR_RECHECK_S
    assert sim.stats.accepted == 1 and (await counts(worker))["dead_lettered"] == 0

    calendar = tmp_path / "calendar.toml"
    calendar.write_text('[2027]\nholidays = ["2027-01-01"]\n', encoding="utf-8")
    clock.now += CALENDAR_RECHECK_S
    again = make_worker(redis_url, keys, sim, clock, days_off=True, calendar_file=str(calendar))
    task = asyncio.create_task(again.run())
    await wait_until(lambda: again.stats.delayed >= 1)  # now known: New Year's Day, then a weekend
    record = await again.store.job("filing_reminder-1") or {}
    assert float(record["release_at"]) == china("2027-01-04 08:00:00")
    clock.set("2027-01-04 08:00:00")
    await wait_until(lambda: sim.stats.accepted == 2)
    again.stop()
    await task


async def test_a_job_at_17_59_59_9_goes_and_one_at_18_00_waits_for_tomorrow(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator
) -> None:
    clock = Clock("2026-11-23 17:59:59.900")
    worker = make_worker(redis_url, keys, sim, clock)
    task = asyncio.create_task(worker.run())
    await (await sender(redis, keys)).enqueue([line(1)])
    await wait_until(lambda: sim.stats.accepted == 1)
    clock.set("2026-11-23 18:00:00")
    await (await sender(redis, keys)).enqueue([line(2)])
    await wait_until(lambda: settled(worker, 1, ("delayed",)))
    worker.stop()
    await task
    late = await worker.store.job("filing_reminder-2")
    assert late is not None and float(late["release_at"]) == china("2026-11-24 08:00:00")
    assert sim.stats.accepted == 1


async def test_a_window_closing_mid_batch_stops_the_rest(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator
) -> None:
    # Every reading of the clock moves it 2 ms on: 300 jobs cannot all pass the check before 18:00.
    clock = Clock("2026-11-23 17:59:59.500", tick=0.002)
    await (await sender(redis, keys)).enqueue([line(i) for i in range(300)])
    worker = make_worker(redis_url, keys, sim, clock)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: settled(worker, 300, ("delayed", "submitted", "delivered")))
    worker.stop()
    await task
    c = await counts(worker)
    assert 0 < sim.stats.accepted < 300
    assert c["delayed"] == 300 - sim.stats.accepted
    delayed = await redis.zrange(keys.delayed(2), 0, -1, withscores=True)  # the reminder lane's
    assert {score for _, score in delayed} == {china("2026-11-24 08:00:00")}


async def test_priorities_replies_then_overdue_then_reminders_then_bulk(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator
) -> None:
    # the bulk lane's notices go out only as a campaign's: here it carries reminders sent with priority 3
    lanes = [("bulk", "filing_reminder", 3), ("reminder", "filing_reminder", None),
             ("overdue", "overdue_payment", None), ("reply", "reply", None)]  # fmt: skip
    rows = [lane for lane in lanes for _ in range(60)]
    phones = {f"86139{i:08d}": label for i, (label, _, _) in enumerate(rows)}
    lines = [line(i, kind, priority=lane) for i, (_, kind, lane) in enumerate(rows)]
    await (await sender(redis, keys)).enqueue(lines)
    sim.config.latency_ms, sim.config.keep_accepted = 2, True
    worker = make_worker(redis_url, keys, sim, window=1, send_window="00:00-24:00")
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: sim.stats.accepted >= 240)
    worker.stop()
    await task
    ranks: dict[str, list[int]] = {}
    for rank, (_, destination, _) in enumerate(sim.accepted_log):
        ranks.setdefault(phones[destination], []).append(rank)
    median = {kind: sorted(r)[30] for kind, r in ranks.items()}
    assert median["reply"] < median["overdue"] < median["reminder"] < median["bulk"], median


async def test_replies_do_not_wait_behind_a_running_campaign(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator
) -> None:
    await (await sender(redis, keys)).enqueue([line(i) for i in range(1500)])
    worker = make_worker(redis_url, keys, sim, tps=500, send_window="00:00-24:00")
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: sim.stats.accepted > 100)
    waits = []
    for i in range(5):
        enqueued = time.time()
        await (await sender(redis, keys)).enqueue([line(i, "reply", "13700000000")])
        await wait_until(lambda i=i: _submitted(worker, f"reply-{i}"))
        waits.append(time.time() - enqueued)
    remaining = (await counts(worker))["queued"]
    worker.stop()
    await task
    assert remaining > 500  # the campaign was far from done
    assert max(waits) < 0.5, waits


async def _submitted(worker: Worker, job_id: str) -> bool:
    record = await worker.store.job(job_id)
    return record is not None and record["state"] in ("submitted", "delivered")


async def test_per_recipient_daily_cap_suppresses_the_excess_but_never_replies(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator
) -> None:
    phone = "13912345678"
    lines = [line(i, "filing_reminder", phone) for i in range(5)] + [line(i, "reply", phone) for i in range(5)]
    await (await sender(redis, keys)).enqueue(lines)
    worker = make_worker(redis_url, keys, sim, daily_caps="filing_reminder=3", send_window="00:00-24:00")
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: settled(worker, 10, ("suppressed", "submitted", "delivered")))
    worker.stop()
    await task
    c = await counts(worker)
    assert c["suppressed"] == 2 and sim.stats.accepted == 8
    states = [(await worker.store.job(f"filing_reminder-{i}") or {}) for i in range(5)]
    suppressed = [s for s in states if s["state"] == "suppressed"]
    assert all("daily cap of 3 filing_reminder" in s["error"] for s in suppressed)


async def test_expired_jobs_are_never_sent(redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator) -> None:
    clock = Clock("2026-11-15 17:00:00")
    lines = [
        line(1, expires_at="2026-11-15T12:00:00+08:00"),  # already past
        line(2, not_before="2026-11-15T19:00:00", expires_at="2026-11-15T23:59:00"),  # window opens too late
        line(3, expires_at="2026-11-16T12:00:00"),  # fine
    ]
    await (await sender(redis, keys)).enqueue(lines)
    worker = make_worker(redis_url, keys, sim, clock)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: settled(worker, 3))
    worker.stop()
    await task
    c = await counts(worker)
    assert c["expired"] == 2 and sim.stats.accepted == 1
    late = await worker.store.job("filing_reminder-2")
    assert late is not None and "after it expires" in late["error"]


async def test_a_delayed_job_that_expires_while_waiting_is_marked_expired(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator
) -> None:
    clock = Clock("2026-11-15 07:00:00")
    await (await sender(redis, keys)).enqueue([line(1, expires_at="2026-11-15T08:30:00")])
    worker = make_worker(redis_url, keys, sim, clock)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: settled(worker, 1, ("delayed",)))
    clock.set("2026-11-15 09:00:00")  # released at the opening, but by now it is stale
    await wait_until(lambda: settled(worker, 1))
    worker.stop()
    await task
    assert (await counts(worker))["expired"] == 1 and sim.stats.accepted == 0


async def test_transient_errors_retry_with_back_off_then_dead_letter(
    redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator
) -> None:
    sim.config.syserr_prefixes = ("86139",)
    await (await sender(redis, keys)).enqueue([line(1), line(2, to="13700000002")])
    worker = make_worker(
        redis_url, keys, sim, send_window="00:00-24:00", max_retries=2, retry_base_s=0.05, retry_max_s=0.2
    )
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: settled(worker, 2))
    worker.stop()
    await task
    record = await worker.store.job("filing_reminder-1")
    assert record is not None and record["state"] == "dead_lettered"
    assert "gave up after 2 retries" in record["error"] and "ESME_RSYSERR" in record["error"]
    assert sim.stats.rejected == 3  # the first try and two retries
    dead = await redis.xrange(keys.dead_letters)
    assert [fields[b"id"] for _, fields in dead] == [b"filing_reminder-1"]
    assert (await worker.store.job("filing_reminder-2") or {})["state"] in ("submitted", "delivered")


async def test_a_transient_error_then_success(redis: Redis, redis_url: str, keys: Keys, sim: SmscSimulator) -> None:
    sim.config.syserr_prefixes = ("86139",)
    await (await sender(redis, keys)).enqueue([line(1)])
    worker = make_worker(redis_url, keys, sim, send_window="00:00-24:00", retry_base_s=0.3)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: settled(worker, 1, ("delayed",)))
    sim.config.syserr_prefixes = ()
    await wait_until(lambda: settled(worker, 1, ("delivered",)))
    worker.stop()
    await task
    record = await worker.store.job("filing_reminder-1")
    assert record is not None and record["retries"] == "1" and sim.stats.accepted == 1
