"""Delivery tracking in the job store: parts, order, UNDELIV, unknown ids, events."""

from __future__ import annotations

from datetime import datetime

import msgspec
from conftest import sender
from redis.asyncio import Redis

from taxsms.queue.jobs import CHINA, JobError, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import RECORD_TTL_S, JobStore, ReceiptUpdate, Settlement, StorageCaps, StreamEntry


async def submitted(redis: Redis, keys: Keys, job_id: str, message_ids: list[str]) -> JobStore:
    """Enqueue one job, claim it and record its submission with these message ids (one per part)."""
    line = f'{{"id": "{job_id}", "kind": "reply", "to": "13800138000", "text": "【某市税务局】x"}}'
    await (await sender(redis, keys)).enqueue([line])
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
    assert await redis.hexists(keys.orphan_receipts, "early")
    await submitted(redis, keys, "late-resp", ["early"])
    record = await store.job("late-resp") or {}
    assert record["state"] == "delivered"
    stats = await store.stats()
    assert stats["unknown_receipts"] == 1 and stats["orphan_receipts_matched"] == 1
    assert not await redis.hexists(keys.orphan_receipts, "early")
    assert not await redis.zcard(keys.orphan_index)


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
    line = '{"id": "waits", "kind": "overdue_filing", "to": "13800138001", "text": "【某市税务局】明天开会。"}'
    await (await sender(redis, keys)).enqueue([line])
    entry = next(e for e in await store.read("c", store.streams, 10, None) if parse_job(e.payload).id == "waits")
    await store.settle([Settlement("waits", entry.stream, entry.entry_id, "delayed", release_at=2e9, lane=1)])
    assert (await store.job("waits") or {})["state"] == "delayed"
    assert await redis.ttl(keys.job("waits")) == -1  # a delayed job's record never expires


# -- receipts that never come --------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def submitted_at(
    redis: Redis,
    keys: Keys,
    clock: Clock,
    job_id: str,
    message_ids: list[str],
    *,
    to: str = "13800138000",
    **job: object,
) -> JobStore:
    """Like submitted(), with an injected clock and a receipt timeout of one hour."""
    line = msgspec.json.encode({"id": job_id, "kind": "reply", "to": to, "text": "【某市税务局】x", **job})
    await (await sender(redis, keys)).enqueue([line])
    store = JobStore(redis, keys, clock=clock, receipt_timeout_s=3600)
    entries = await redis.xrange(keys.lane(0))
    entry_id, fields = next((eid, f) for eid, f in entries if parse_job(f[b"job"]).id == job_id)
    entry = StreamEntry(keys.lane(0), entry_id.decode(), job_id, fields[b"job"])
    job_record = parse_job(entry.payload)
    assert await store.begin([(entry, job_record)]) == [True]
    settlement = Settlement(
        job_id, entry.stream, entry.entry_id, "submitted", message_ids=message_ids, expires_at=job_record.expires_ts
    )
    await store.settle([settlement])
    return store


async def test_no_receipt_by_the_timeout_ends_unconfirmed_and_a_late_one_still_counts(redis: Redis, keys: Keys) -> None:
    clock = Clock()
    store = await submitted_at(redis, keys, clock, "quiet", ["q1"])
    clock.now += 3599
    assert await store.end_unconfirmed() == 0
    assert (await store.job("quiet") or {})["state"] == "submitted"
    clock.now += 2
    assert await store.end_unconfirmed() == 1
    record = await store.job("quiet") or {}
    assert record["state"] == "unconfirmed" and record["error"].startswith("no delivery receipt by ")
    assert (await store.counts())["unconfirmed"] == 1
    assert (await store.stats())["receipt_timeouts"] == 1
    events = [(f[b"job"], f[b"state"]) for _, f in await redis.xrange(keys.events)]
    assert events[-1] == (b"quiet", b"unconfirmed")
    assert await store.end_unconfirmed() == 0  # once
    await store.apply_receipts([receipt("q1")])  # two days late
    record = await store.job("quiet") or {}
    assert record["state"] == "delivered"
    counts = await store.counts()
    assert counts["unconfirmed"] == 0 and counts["delivered"] == 1
    assert (await store.stats())["receipts_after_timeout"] == 1


async def test_a_receipt_in_time_takes_the_job_off_the_timeout(redis: Redis, keys: Keys) -> None:
    clock = Clock()
    store = await submitted_at(redis, keys, clock, "prompt", ["p1"])
    await store.apply_receipts([receipt("p1", ok=False)])
    assert await redis.zcard(keys.receipt_deadlines) == 0
    clock.now += 7200
    assert await store.end_unconfirmed() == 0
    assert (await store.job("prompt") or {})["state"] == "undelivered"


async def test_a_job_that_expires_first_is_unconfirmed_at_its_expiry(redis: Redis, keys: Keys) -> None:
    clock = Clock()
    expires = datetime.fromtimestamp(clock.now + 600, CHINA).isoformat()
    store = await submitted_at(redis, keys, clock, "short", ["s1"], expires_at=expires)
    clock.now += 601
    assert await store.end_unconfirmed() == 1
    assert (await store.job("short") or {})["state"] == "unconfirmed"


# -- receipt ids in hex or decimal ---------------------------------------------------------------------------


async def test_receipt_17_goes_to_message_0x11_not_to_message_17(redis: Redis, keys: Keys) -> None:
    """A decimal-writing SMSC: submit_sm_resp said 11 (hex) to one phone, 17 (hex) to another."""
    clock = Clock()
    store = await submitted_at(redis, keys, clock, "hex11", ["11"], to="13900000001")
    await submitted_at(redis, keys, clock, "hex17", ["17"], to="13900000002")
    update = ReceiptUpdate("17", "undelivered", "UNDELIV", "001", phone="13900000001")  # 0x11 = 17
    assert await store.apply_receipts([update]) == 0
    assert (await store.job("hex11") or {})["state"] == "undelivered"
    assert (await store.job("hex17") or {})["state"] == "submitted"
    # And 0x17 = 23 written in decimal for the other one:
    await store.apply_receipts([ReceiptUpdate("23", "delivered", "DELIVRD", "000", phone="13900000002")])
    assert (await store.job("hex17") or {})["state"] == "delivered"


async def test_ids_valid_in_both_bases_to_one_phone_are_not_guessed(redis: Redis, keys: Keys) -> None:
    clock = Clock()
    store = await submitted_at(redis, keys, clock, "a", ["11"], to="13900000001")
    await submitted_at(redis, keys, clock, "b", ["17"], to="13900000001")
    await store.apply_receipts([ReceiptUpdate("17", "delivered", "DELIVRD", "000", phone="13900000001")])
    assert await store.states(["a", "b"]) == ["submitted", "submitted"]
    assert (await store.stats())["ambiguous_receipts"] == 1


async def test_a_decimal_receipt_before_its_hex_submit_is_matched_when_the_submit_is_recorded(
    redis: Redis, keys: Keys
) -> None:
    clock = Clock()
    store = JobStore(redis, keys, clock=clock)
    assert await store.apply_receipts([ReceiptUpdate(str(0xABC), "delivered", "DELIVRD", phone="13900000001")]) == 1
    await submitted_at(redis, keys, clock, "early", ["abc"], to="13900000001")
    assert (await store.job("early") or {})["state"] == "delivered"
    assert await redis.hlen(keys.orphan_receipts) == 0


async def test_an_orphan_for_another_phone_is_not_applied(redis: Redis, keys: Keys) -> None:
    clock = Clock()
    store = JobStore(redis, keys, clock=clock)
    await store.apply_receipts([ReceiptUpdate("e1", "undelivered", "UNDELIV", phone="13900000009")])
    await submitted_at(redis, keys, clock, "mine", ["e1"], to="13900000001")
    assert (await store.job("mine") or {})["state"] == "submitted"


# -- hostile receipts ----------------------------------------------------------------------------------------


async def test_an_unknown_stat_is_recorded_not_taken_for_a_failure(redis: Redis, keys: Keys) -> None:
    store = await submitted(redis, keys, "real", ["r1"])
    await store.apply_receipts([ReceiptUpdate("r1", "unknown", "PWNED", "000")])
    record = await store.job("real") or {}
    assert record["state"] == "submitted" and record["u1"] == "PWNED err:000" and "r1" not in record
    assert (await store.stats())["unknown_stat_receipts"] == 1
    await store.apply_receipts([receipt("r1")])
    assert (await store.job("real") or {})["state"] == "delivered"


async def test_orphan_receipts_are_capped(redis: Redis, keys: Keys) -> None:
    store = JobStore(redis, keys, caps=StorageCaps(orphan_receipts_max=100))
    bogus = [ReceiptUpdate(f"bogus{i}", "undelivered", "UNDELIV") for i in range(3004)]
    for start in range(0, len(bogus), 500):
        await store.apply_receipts(bogus[start : start + 500])
    assert await redis.hlen(keys.orphan_receipts) == await redis.zcard(keys.orphan_index) == 100
    stats = await store.stats()
    assert stats["unknown_receipts"] == 3004 and stats["orphan_receipts_dropped"] == 2904
    assert await redis.hexists(keys.orphan_receipts, "bogus3003")  # the newest are kept


async def test_old_orphans_expire(redis: Redis, keys: Keys) -> None:
    clock = Clock()
    store = JobStore(redis, keys, clock=clock, caps=StorageCaps(orphan_ttl_s=60))
    await store.apply_receipts([ReceiptUpdate("old", "delivered", "DELIVRD")])
    clock.now += 61
    await store.apply_receipts([ReceiptUpdate("new", "delivered", "DELIVRD")])
    assert await redis.hkeys(keys.orphan_receipts) == [b"new"]


async def test_a_huge_refused_payload_adds_only_its_cap_to_the_dead_letters(redis: Redis, keys: Keys) -> None:
    store = JobStore(redis, keys, caps=StorageCaps(dead_letter_payload_bytes=4096, dead_letter_maxlen=100))
    before = int((await redis.info("memory"))["used_memory"])
    await store.dead_letter_raw(b"{" + b"x" * 10_000_000, JobError("job", "too large"))
    after = int((await redis.info("memory"))["used_memory"])
    assert after - before < 64_000  # not 10 MB
    ((_, fields),) = await redis.xrange(keys.dead_letters)
    assert len(fields[b"job"]) == 4096 and fields[b"job_bytes"] == b"10000001"
    assert (await store.stats())["dead_letters_truncated"] == 1
    for start in range(0, 1000, 250):
        entries = [
            (StreamEntry(keys.lane(3), f"0-{i + 1}", f"d{i}", b"{}"), JobError("job", "bad"))
            for i in range(start, start + 250)
        ]
        await store.dead_letter(entries)
    assert 100 <= await redis.xlen(keys.dead_letters) < 300  # MAXLEN ~100: trimmed by whole stream nodes
