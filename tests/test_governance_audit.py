"""The hash-chained audit log: appends, concurrent writers, and tampering detected by verify()."""

from __future__ import annotations

import asyncio
import itertools

from taxsms.governance.audit import GENESIS, AuditLog, canonical, check_chain, entry_hash


async def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        await log.append("P001", "operator.add", f"C{i:03d}", {"unit": "city-east", "n": i})


async def test_chain_links_and_verifies(redis, keys) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(redis, keys)
    assert (await log.verify()).ok
    await _fill(log, 5)
    await log.record_template_change("P001", "filing_reminder", "update", {"version": 2})
    await log.record_sends("county-e1", "notice", 120)
    entries = [e async for e in log.entries()]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6, 7]
    assert entries[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in itertools.pairwise(entries))
    assert entries[-1].details == {"kind": "notice", "count": 120}
    result = await log.verify()
    assert result.ok and result.entries == 7


async def test_concurrent_writers_do_not_fork_the_chain(redis, keys) -> None:  # type: ignore[no-untyped-def]
    writers = [AuditLog(redis, keys) for _ in range(4)]  # each with its own (stale) idea of the tip
    await asyncio.gather(*(_fill(w, 10) for w in writers))
    result = await writers[0].verify()
    assert result.ok and result.entries == 40


async def test_edited_entry_is_detected(redis, keys) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(redis, keys)
    await _fill(log, 5)
    items = await redis.xrange(keys.audit)
    await redis.delete(keys.audit)  # rewrite the stream as a modified copy: entry 3's details changed
    for _, fields in items:
        if fields[b"seq"] == b"3":
            fields[b"details"] = b'{"n":2,"unit":"city-west"}'
        await redis.xadd(keys.audit, fields)
    result = await log.verify()
    assert not result.ok and result.broken_at == 3 and "edited" in result.reason


async def test_forged_rehashed_entry_breaks_the_next_link(redis, keys) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(redis, keys)
    await _fill(log, 4)
    entries = [e async for e in log.entries()]
    await redis.delete(keys.audit)
    for e in entries:
        fields = {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "subject": e.subject}
        details = {"unit": "forged"} if e.seq == 2 else e.details
        digest = entry_hash(e.prev, e.seq, e.at, e.actor, e.action, e.subject, details) if e.seq == 2 else e.hash
        await redis.xadd(keys.audit, fields | {"details": canonical(details), "prev": e.prev, "hash": digest})
    result = await log.verify()
    assert not result.ok and result.broken_at == 3 and "prev" in result.reason


async def test_deleted_entries_are_detected(redis, keys) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(redis, keys)
    await _fill(log, 5)
    ids = [entry_id for entry_id, _ in await redis.xrange(keys.audit)]
    await redis.xdel(keys.audit, ids[1])
    result = await log.verify()
    assert not result.ok and result.broken_at == 2 and "missing" in result.reason

    tail = AuditLog(redis, keys.__class__(keys.prefix + "b"))
    await _fill(tail, 3)
    last = (await redis.xrevrange(tail.keys.audit, count=1))[0][0]
    await redis.xdel(tail.keys.audit, last)
    result = await tail.verify()
    assert not result.ok and result.broken_at == 3 and "tip" in result.reason


def test_check_chain_pure() -> None:
    assert check_chain([], None).ok
    assert not check_chain([], (1, "x" * 64)).ok
