"""A worker with no SMPP bind up reads nothing and hands the jobs it claimed back to the workers whose binds are up;
a stopping worker hands back those it did not send.

Real Redis, the SMSC simulator over real TCP. claim_idle_s is 600 s throughout: a handed-back job that reaches the
SMSC within seconds went by the handback, not by the reclaim of a dead worker's entries.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import msgspec
import pytest
from conftest import sender, wait_until
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.dispatcher.handback import Outage
from taxsms.dispatcher.worker import Worker
from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.jobs import CHINA, FINAL_STATES, Lane, parse_job
from taxsms.queue.keys import CONSUMER_GROUP, Keys
from taxsms.queue.store import HANDED_BACK_IDLE_MS, DispatchRules, JobStore
from tests import test_worker

CLAIM_IDLE_S = 600.0
WINDOW = 4
BATCH = 64
JOBS = 200


def test_an_outage_is_due_once_no_bind_was_up_for_the_grace_period() -> None:
    outage = Outage(5.0)
    assert not outage.due(1, 100.0)
    assert not outage.due(0, 101.0)  # the first look with none up starts the outage
    assert not outage.due(0, 105.9)
    assert outage.due(0, 106.0) and outage.due(0, 200.0)
    assert not outage.due(2, 201.0)  # a bind came up: the next outage starts afresh
    assert not outage.due(0, 202.0) and not outage.due(0, 206.9) and outage.due(0, 207.0)


async def test_a_handed_back_entry_is_taken_at_once_by_another_consumer_keeping_its_hold_and_deliveries(
    redis: Redis, keys: Keys
) -> None:
    await redis.set(keys.quota("county-e1"), 5)
    await save_units(redis, keys, UnitTree.from_file())
    notice = {"kind": "overdue_filing", "text": "通知"}
    lines = [msgspec.json.encode({**notice, "id": f"n{i}", "to": f"1380000000{i}"}) for i in (1, 2)]
    await (await sender(redis, keys, "county-e1")).enqueue(lines)
    store = JobStore(redis, keys, rules=DispatchRules(quota_kinds=frozenset({"overdue_filing"})))
    await store.ensure_group()
    entries = await store.read("a", store.streams, 10, None)
    assert await store.begin([(e, parse_job(e.payload)) for e in entries], {"n1": 2, "n2": 2}) == [True, True]
    held = keys.quota_held(f"{datetime.now(CHINA):%Y-%m}")
    assert await redis.hget(held, "county-e1") == b"4"
    n1, n2 = entries
    assert (await store.reclaim("b", HANDED_BACK_IDLE_MS, 10)) == ([], False)  # nothing handed back yet

    assert await store.hand_back("a", [n1]) == 1
    assert await store.handed_back() == 1
    [pending] = await redis.xpending_range(n1.stream, CONSUMER_GROUP, n1.entry_id, n1.entry_id, 1)
    assert pending["consumer"] == b"a" and pending["time_since_delivered"] >= HANDED_BACK_IDLE_MS
    assert pending["times_delivered"] == 0  # this delivery sent nothing: it does not wear the entry
    taken, more = await store.reclaim("b", HANDED_BACK_IDLE_MS, 10)
    assert [e.entry_id for e in taken] == [n1.entry_id] and not more  # n2, still a's, stays
    assert await store.deliveries([n1, n2]) == [1, 1]
    record = await store.job("n1") or {}
    assert record["state"] == "submitting" and record["held"].endswith(" 2")
    assert await store.begin([(taken[0], parse_job(taken[0].payload))], {"n1": 2}) == [True]
    assert await redis.hget(held, "county-e1") == b"4"  # claimed again, it keeps what it held: not counted twice

    assert await store.hand_back("a", [n1]) == 0  # b's now: a can no longer hand it back
    assert await store.handed_back() == 1


def worker_for(redis_url: str, keys: Keys, sim: SmscSimulator, **overrides: object) -> Worker:
    """test_worker's worker, with this module's window, batch, claim_idle_s and a short handback grace."""
    settings = {"window": WINDOW, "batch": BATCH, "claim_idle_s": CLAIM_IDLE_S, "handback_after_s": 0.5}
    return test_worker.worker_for(redis_url, keys, sim, **{**settings, **overrides})


def reminders(n: int) -> list[bytes]:
    text = "【某市税务局】您本月增值税申报期限为15日，请及时申报。"
    return [msgspec.json.encode({"id": f"j{i}", "kind": "filing_reminder", "to": f"139{i:08d}", "text": text})
            for i in range(n)]  # fmt: skip


async def pending_of(redis: Redis, keys: Keys, consumer: str) -> int:
    summary = await redis.xpending(keys.lane(Lane.REMINDER), CONSUMER_GROUP)
    return sum(int(c["pending"]) for c in summary["consumers"] if c["name"].decode() == consumer)


async def all_final(store: JobStore, total: int) -> bool:
    counts = await store.counts()
    return sum(counts[s] for s in FINAL_STATES) >= total


@pytest.mark.parametrize("outage", ["unreachable", "bind refused"])
async def test_the_jobs_a_worker_without_binds_claimed_go_out_through_the_other_at_once_none_lost_none_twice(
    redis: Redis, redis_url: str, keys: Keys, outage: str
) -> None:
    assert await (await sender(redis, keys)).enqueue(reminders(JOBS)) == (JOBS, 0)
    # a's SMSC answers nothing for a minute, so a's window stays full and its buffer holds what it read
    far = SmscSimulator(SimulatorConfig(latency_ms=60_000, dlr_ms=20, password="pw", keep_accepted=True))
    near = SmscSimulator(SimulatorConfig(dlr_ms=20, keep_accepted=True))
    await far.start()
    await near.start()
    a = worker_for(redis_url, keys, far, consumer="a", password="pw", bind_refused_retry_min=0.5,
                   bind_refused_retry_max=0.5)  # fmt: skip
    b = worker_for(redis_url, keys, near, consumer="b")
    tasks = [asyncio.create_task(a.run())]
    back = None
    try:
        share = a.room.capacity - a.room.reserved  # what a may hold of the lanes but replies
        await wait_until(lambda: far.stats.submits == WINDOW)
        await wait_until(lambda: len(a._buffer) == share - WINDOW - 1)  # one more waits in the sender for a slot
        read = a.stats.read
        if outage == "unreachable":
            await far.stop()
        else:
            far.config.password = "changed"
            far.drop_connections()
        broken = asyncio.get_running_loop().time()
        tasks.append(asyncio.create_task(b.run()))

        kept = WINDOW + 1  # given to a's bind (at the SMSC, outcome unknown) or waiting in its sender for a slot
        await wait_until(lambda: near.stats.accepted == JOBS - kept, 30)
        took = asyncio.get_running_loop().time() - broken
        assert took < CLAIM_IDLE_S / 20, f"{took:.1f} s: that was no handback"
        print(f"\n{outage}: {a.stats.handed_back} handed back, at the SMSC through b {took:.2f} s after the outage")
        assert a.stats.handed_back == share - kept and b.stats.reclaimed == share - kept
        assert a.stats.read == read  # with no bind up, a read nothing more
        assert await pending_of(redis, keys, "a") == kept

        if outage == "unreachable":  # the SMSC is reachable again: a resends what it kept
            back = SmscSimulator(SimulatorConfig(port=far.port, dlr_ms=20, keep_accepted=True))
            await back.start()
        else:
            far.config.latency_ms, far.config.password = 0.0, "pw"
        await wait_until(lambda: all_final(a.store, JOBS), 30)
    finally:
        a.stop()
        b.stop()
        await asyncio.gather(*tasks)
        for sim in (far, near, back):
            if sim is not None:
                await sim.stop()
    counts = await a.store.counts()
    assert counts["delivered"] == JOBS
    via_b = Counter(destination for _, destination, _ in near.accepted_log)
    via_a = Counter(destination for sim in (far, back) if sim for _, destination, _ in sim.accepted_log)
    assert len(via_b) == JOBS - kept and set(via_b.values()) == {1}  # none twice ...
    assert not set(via_b) & set(via_a)  # ... nor by both workers
    assert len(via_a) == kept  # a sent only what it kept: those at the SMSC when it went away were sent again
    assert sum(via_a.values()) - len(via_a) <= WINDOW
    assert a.stats.submitted == kept and b.stats.submitted == JOBS - kept


async def test_a_worker_with_no_bind_up_reads_no_jobs(redis: Redis, redis_url: str, keys: Keys) -> None:
    assert await (await sender(redis, keys)).enqueue(reminders(20)) == (20, 0)
    async with SmscSimulator(SimulatorConfig(dlr_ms=20, password="pw")) as sim:
        worker = worker_for(redis_url, keys, sim, password="wrong", bind_refused_retry_min=0.3,
                            bind_refused_retry_max=0.3)  # fmt: skip
        task = asyncio.create_task(worker.run())
        try:
            await wait_until(lambda: sim.stats.bind_failures >= 3)  # a second or so with no bind up ...
            assert worker.stats.read == 0  # ... its readers (block_ms 50) would have read many times over
            assert await redis.xlen(keys.lane(Lane.REMINDER)) == 20
            assert (await redis.xpending(keys.lane(Lane.REMINDER), CONSUMER_GROUP))["pending"] == 0
            sim.config.password = None  # the SMSC takes its bind at last: it reads and sends
            await wait_until(lambda: all_final(worker.store, 20))
        finally:
            worker.stop()
            await task
    assert worker.stats.read == 20 and sim.stats.accepted == 20


async def test_a_stopping_worker_hands_back_what_it_did_not_send_and_the_other_sends_it_at_once(
    redis: Redis, redis_url: str, keys: Keys
) -> None:
    assert await (await sender(redis, keys)).enqueue(reminders(JOBS)) == (JOBS, 0)
    slow = SmscSimulator(SimulatorConfig(latency_ms=60_000, dlr_ms=20, keep_accepted=True))  # a's window stays full
    near = SmscSimulator(SimulatorConfig(dlr_ms=20, keep_accepted=True))
    back = SmscSimulator(SimulatorConfig(dlr_ms=20, keep_accepted=True))
    for sim in (slow, near, back):
        await sim.start()
    a = worker_for(redis_url, keys, slow, consumer="a")
    b = worker_for(redis_url, keys, near, consumer="b")
    again = worker_for(redis_url, keys, back, consumer="a")  # a restarted: it sends what it left at the SMSC
    a_run = asyncio.create_task(a.run())
    tasks = [asyncio.create_task(b.run())]
    try:
        share = a.room.capacity - a.room.reserved
        await wait_until(lambda: slow.stats.submits == WINDOW and len(a._buffer) == share - WINDOW - 1)
        await wait_until(lambda: near.stats.accepted == JOBS - share)  # b sent all that a did not hold
        loop = asyncio.get_running_loop()
        stopped = loop.time()
        a.stop()  # as on SIGTERM
        await wait_until(lambda: near.stats.accepted == JOBS - WINDOW, 30)
        took = loop.time() - stopped
        await a_run
        gone = loop.time() - stopped
        print(f"\nstopping: {a.stats.handed_back} handed back, at the SMSC through b {took:.2f} s after stop(), "
              f"a gone after {gone:.2f} s")  # fmt: skip
        # a's sender took nothing more (its window full at an SMSC that does not answer): a hands its buffer back
        # at once, not when its stop timeout (3 s, which its in-flight submits use up) has run out
        assert took < 2.0, f"{took:.1f} s: handed back only as a was gone, or not at all"
        assert gone < a.config.stop_timeout_s + 1
        # the one a's sender held waiting for a slot went back too; those at the SMSC stay a's, as before
        assert a.stats.handed_back == share - WINDOW and b.stats.reclaimed == share - WINDOW
        assert await pending_of(redis, keys, "a") == WINDOW
        tasks.append(asyncio.create_task(again.run()))
        await wait_until(lambda: all_final(a.store, JOBS), 30)
    finally:
        a.stop()
        b.stop()
        again.stop()
        await asyncio.gather(a_run, *tasks)
        for sim in (slow, near, back):
            await sim.stop()
    assert (await a.store.counts())["delivered"] == JOBS
    via_b = Counter(destination for _, destination, _ in near.accepted_log)
    via_a = Counter(destination for sim in (slow, back) for _, destination, _ in sim.accepted_log)
    assert len(via_b) == JOBS - WINDOW and set(via_b.values()) == {1}  # none twice ...
    assert not set(via_b) & set(via_a)  # ... nor by both workers
    assert len(via_a) == WINDOW and a.stats.submitted == 0 and again.stats.submitted == WINDOW
    assert b.stats.submitted == JOBS - WINDOW


async def test_a_stopping_worker_sends_what_it_claimed_while_the_smsc_takes_it(
    redis: Redis, redis_url: str, keys: Keys
) -> None:
    assert await (await sender(redis, keys)).enqueue(reminders(JOBS)) == (JOBS, 0)
    async with SmscSimulator(SimulatorConfig(latency_ms=30, dlr_ms=20)) as sim:  # ~130 jobs/s through 4 slots
        a = worker_for(redis_url, keys, sim, consumer="a")
        a_run = asyncio.create_task(a.run())
        share = a.room.capacity - a.room.reserved
        await wait_until(lambda: len(a._buffer) == share - WINDOW - 1)  # its buffer full, its window too
        a.stop()  # as on SIGTERM: ~0.4 s of sending left in the buffer, well within the stop timeout
        await a_run
    assert a.stats.handed_back == 0  # the SMSC kept taking them: none waited for another worker
    assert a.stats.submitted == a.stats.read >= share
    assert await pending_of(redis, keys, "a") == 0  # every one it read was sent and recorded


async def test_a_worker_whose_sender_dies_still_hands_back_what_it_claimed_and_unbinds(
    redis: Redis, redis_url: str, keys: Keys
) -> None:
    assert await (await sender(redis, keys)).enqueue(reminders(JOBS)) == (JOBS, 0)
    async with SmscSimulator(SimulatorConfig(latency_ms=30, dlr_ms=20)) as sim:
        a = worker_for(redis_url, keys, sim, consumer="a")
        a_run = asyncio.create_task(a.run())
        share = a.room.capacity - a.room.reserved
        await wait_until(lambda: len(a._buffer) == share - WINDOW - 1)

        def broken(*_: object) -> None:
            raise ZeroDivisionError("a bug in the send loop")

        a.sender.admission.hold = broken  # type: ignore[method-assign]  # the sender's next job kills it
        with pytest.raises(RuntimeError, match="worker task send ended unexpectedly"):
            await a_run
    assert a.stats.handed_back >= share - WINDOW - 1  # its buffer went back (before: the shutdown was skipped)
    assert a.pool is not None and not a.pool.bound  # and its bind was closed
    taken, _ = await JobStore(redis, keys).reclaim("b", HANDED_BACK_IDLE_MS, JOBS)
    assert len(taken) == a.stats.handed_back  # another worker may take them at once
