"""The hash-chained audit log: appends, concurrent writers, and tampering detected by verify()."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json

from taxsms.governance.audit import GENESIS, AuditLog, audit_key, canonical, check_chain, entry_hash


async def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        await log.append("P001", "operator.add", f"C{i:03d}", {"unit": "city-east", "n": i})


async def test_chain_links_and_verifies(redis, keys) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(redis, keys)
    assert (await log.verify()).ok
    await _fill(log, 5)
    await log.append("padmin", "quota.set", "county-e1", {"unit": "county-e1", "segments": 120})
    entries = [e async for e in log.entries()]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in itertools.pairwise(entries))
    assert entries[-1].details == {"unit": "county-e1", "segments": 120}
    result = await log.verify()
    assert result.ok and result.entries == 6


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
        forged = entry_hash(log.key, e.prev, e.seq, e.at, e.actor, e.action, e.subject, details)
        digest = forged if e.seq == 2 else e.hash
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

    tail = AuditLog(redis, dataclasses.replace(keys, prefix=keys.prefix + "b"))
    await _fill(tail, 3)
    last = (await redis.xrevrange(tail.keys.audit, count=1))[0][0]
    await redis.xdel(tail.keys.audit, last)
    result = await tail.verify()
    assert not result.ok and result.broken_at == 3 and "tip" in result.reason


def test_check_chain_pure() -> None:
    assert check_chain([], None, b"k").ok
    assert not check_chain([], (1, "x" * 64), b"k").ok


async def test_rewriting_an_entry_with_a_recomputed_unkeyed_hash_fails_verify(redis, keys) -> None:  # type: ignore[no-untyped-def]
    """Whoever can write Redis rewrites entry 2 and every hash after it, tip included, the way an unkeyed
    sha256 chain would let them: without the audit key (kept outside Redis) verify still fails."""
    log = AuditLog(redis, keys, key=b"the deployment's secret")
    await _fill(log, 4)
    entries = [e async for e in log.entries()]
    await redis.delete(keys.audit)
    prev = GENESIS
    for e in entries:
        details = {"unit": "forged"} if e.seq == 2 else e.details
        body = {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "subject": e.subject}
        body |= {"details": details, "prev": prev}
        digest = hashlib.sha256((prev + canonical(body)).encode()).hexdigest()
        fields = {k: v for k, v in body.items() if k not in ("details", "prev")}
        await redis.xadd(keys.audit, fields | {"details": canonical(details), "prev": prev, "hash": digest})
        prev = digest
    await redis.set(keys.audit_tip, f"{entries[-1].seq} {prev}")
    result = await AuditLog(redis, keys, key=b"the deployment's secret").verify()
    assert not result.ok and result.broken_at == 1 and "audit key" in result.reason
    assert (await AuditLog(redis, keys, key=b"another secret").verify()).ok is False


def test_the_audit_key_comes_from_outside_redis(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TAXSMS_AUDIT_KEY", "from-the-environment")
    assert audit_key() == b"from-the-environment"
    monkeypatch.delenv("TAXSMS_AUDIT_KEY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    created = audit_key()
    assert (tmp_path / "taxsms" / "audit.key").read_bytes() == created and len(created) == 64
    assert oct((tmp_path / "taxsms" / "audit.key").stat().st_mode & 0o777) == "0o600"
    assert audit_key() == created  # stable once made
    key_file = tmp_path / "deployed.key"
    key_file.write_text("deployed secret\n")
    monkeypatch.setenv("TAXSMS_AUDIT_KEY_FILE", str(key_file))
    assert audit_key() == b"deployed secret"


async def test_audit_list_filters(redis, keys) -> None:  # type: ignore[no-untyped-def]
    log = AuditLog(redis, keys)
    await log.append("padmin", "quota.set", "county-e1", {"unit": "county-e1", "segments": 5})
    await log.append("e1pub", "campaign.create", "cmp-1", {"unit": "county-e1", "units": ["sub-e1-town"]})
    await log.append("wpub", "campaign.create", "cmp-2", {"unit": "county-w1"})
    assert [e.subject for e in await log.select(unit="county-e1")] == ["county-e1", "cmp-1"]
    assert [e.subject for e in await log.select(unit="sub-e1-town")] == ["cmp-1"]
    assert [e.subject for e in await log.select(action="campaign.")] == ["cmp-1", "cmp-2"]
    assert [e.subject for e in await log.select(operator="wpub")] == ["cmp-2"]
    assert [e.subject for e in await log.select(action="campaign.", limit=1)] == ["cmp-2"]
    assert await log.select(since="2999-01-01T00:00") == []
    assert json.loads(json.dumps(log and (await log.select())[0].to_dict()))["action"] == "quota.set"
