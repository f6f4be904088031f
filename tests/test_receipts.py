"""Delivery tracking in the job store: parts, order, UNDELIV, unknown ids, events."""

from __future__ import annotations

from redis.asyncio import Redis

from taxsms.queue.intake import enqueue_lines
from taxsms.queue.jobs import parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import RECORD_TTL_S, JobStore, ReceiptUpdate, Settlement, StreamEntry


async def submitted(redis: Redis, keys: Keys, job_id: str, message_ids: list[str]) -> JobStore:
    """Enqueue one job, claim it and record its submission with these message ids (one per part)."""
    line = f'{{"id": "{job_id}", "kind": "reply", "to": "13800138000", "text": "【12366】x"}}'
    await enqueue_lines(redis, keys, [line])
    store = JobStore(redis, keys)
    await store.ensure_group()
    entries = await store.read("c", store.streams, 10, None)
    entry = next(e for e in entries if parse_job(e.payload).id == job_id)
    assert await store.begin([(entry, parse_job(entry.payload))]) == [True]
    await store.settle([Settlement(job_id, entry.stream, entry.entry_id, "submitted", message_ids=message_ids)])
    return store


def receipt(message_id: str, ok: bool = True) -> ReceiptUpdate:
    return ReceiptUpdate(message_id, "delivered" if ok else "undelivered", "DELIVRD" if ok else "UNDELIV", "000")


async def test_multipart_is_delivered_only_when_every_part_is(redis: Redis, keys: Keys) -> None:
    store = await submitted(redis, keys, "long", ["a1", "a2", "a3"])
    await store.apply_receipts([receipt("a3"), receipt("a1")])
    assert (await store.job("long") or {})["state"] == "submitted"
    await store.apply_receipts([receipt("a2")])
    record = await store.job("long") or {}
    assert record["state"] == "delivered" and record["r1"] == record["r2"] == record["r3"] == "DELIVRD"


async def test_one_undelivered_part_makes_the_message_undelivered(redis: Redis, keys: Keys) -> None:
    store = await submitted(redis, keys, "u", ["b1", "b2"])
    await store.apply_receipts([receipt("b1"), receipt("b2", ok=False)])
    record = await store.job("u") or {}
    assert record["state"] == "undelivered" and "part 2: UNDELIV" in record["error"]
    assert (await store.counts())["undelivered"] == 1


async def test_receipt_before_the_submit_resp_was_recorded_is_not_lost(redis: Redis, keys: Keys) -> None:
    store = JobStore(redis, keys)
    assert await store.apply_receipts([receipt("early")]) == 1  # unknown for now: kept as an orphan
    assert await redis.exists(keys.orphan_receipt("early"))
    await submitted(redis, keys, "late-resp", ["early"])
    record = await store.job("late-resp") or {}
    assert record["state"] == "delivered"
    stats = await store.stats()
    assert stats["unknown_receipts"] == 1 and stats["orphan_receipts_matched"] == 1
    assert not await redis.exists(keys.orphan_receipt("early"))


async def test_duplicate_and_late_receipts_change_nothing(redis: Redis, keys: Keys) -> None:
    store = await submitted(redis, keys, "d", ["c1"])
    await store.apply_receipts([receipt("c1"), receipt("c1", ok=False)])
    assert (await store.job("d") or {})["state"] == "delivered"
    counts = await store.counts()
    assert counts["delivered"] == 1 and counts["undelivered"] == 0


async def test_every_state_change_upstream_cares_about_is_an_event(redis: Redis, keys: Keys) -> None:
    store = await submitted(redis, keys, "e", ["e1"])
    await store.apply_receipts([receipt("e1")])
    events = [(f[b"job"], f[b"state"]) for _, f in await redis.xrange(keys.events)]
    assert events == [(b"e", b"submitted"), (b"e", b"delivered")]
    record = await store.job("e") or {}
    assert float(record["at:queued"]) <= float(record["at:submitted"]) <= float(record["at:delivered"])


async def test_settling_twice_is_harmless(redis: Redis, keys: Keys) -> None:
    store = await submitted(redis, keys, "twice", ["t1"])
    record = await store.job("twice") or {}
    entry = StreamEntry(keys.lane(0), record["entry"], "twice", b"")
    await store.settle([Settlement("twice", entry.stream, entry.entry_id, "submitted", message_ids=["t1"])])
    assert (await store.counts())["submitted"] == 1


async def test_records_are_kept_for_the_retention_period_once_nothing_waits_on_them(redis: Redis, keys: Keys) -> None:
    store = await submitted(redis, keys, "kept", ["k1"])
    assert 0 < await redis.ttl(keys.job("kept")) <= RECORD_TTL_S  # submitted: its receipt comes within days
    await store.apply_receipts([receipt("k1")])
    assert RECORD_TTL_S - 5 <= await redis.ttl(keys.job("kept")) <= RECORD_TTL_S
    line = '{"id": "waits", "kind": "notice", "to": "13800138001", "text": "【某县税务局】明天开会。"}'
    await enqueue_lines(redis, keys, [line])
    entry = next(e for e in await store.read("c", store.streams, 10, None) if parse_job(e.payload).id == "waits")
    await store.settle([Settlement("waits", entry.stream, entry.entry_id, "delayed", release_at=2e9, lane=3)])
    assert (await store.job("waits") or {})["state"] == "delayed"
    assert await redis.ttl(keys.job("waits")) == -1  # a delayed job's record never expires
