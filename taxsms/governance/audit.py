"""The append-only, hash-chained audit log, in the Redis stream `keys.audit`.

Each entry holds seq, at, actor, action, subject, details (canonical JSON), prev and hash, where
hash = sha256(prev + canonical JSON of the entry without its hash). Appending is compare-and-append in Lua:
the script checks that the chain's tip (key `keys.audit_tip`, "seq hash") is still the one the hash was
computed from, then XADDs and moves the tip, so concurrent writers retry instead of forking the chain. The
tip also lets `verify` notice entries deleted from the end of the stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from taxsms.queue.jobs import CHINA
from taxsms.queue.keys import Keys

GENESIS = "0" * 64
PAGE = 1000
MAX_ATTEMPTS = 50

_APPEND = """
local tip = redis.call('GET', KEYS[2]) or ('0 ' .. ARGV[2])
if tip ~= ARGV[1] then return {0, tip} end
local id = redis.call('XADD', KEYS[1], '*', 'seq', ARGV[3], 'at', ARGV[4], 'actor', ARGV[5], 'action', ARGV[6],
  'subject', ARGV[7], 'details', ARGV[8], 'prev', ARGV[9], 'hash', ARGV[10])
redis.call('SET', KEYS[2], ARGV[3] .. ' ' .. ARGV[10])
return {1, id}
"""


class Action(StrEnum):
    """What the log records."""

    UNITS_LOAD = "units.load"
    OPERATOR_ADD = "operator.add"
    OPERATOR_UPDATE = "operator.update"
    OPERATOR_SUSPEND = "operator.suspend"
    OPERATOR_REINSTATE = "operator.reinstate"
    OPERATOR_REHASH = "operator.rehash"
    LOGIN = "login"
    LOGIN_FAILED = "login.failed"
    LOGIN_LOCKED = "login.locked"
    LOGOUT = "logout"
    CAMPAIGN_CREATE = "campaign.create"
    CAMPAIGN_APPROVE = "campaign.approve"
    CAMPAIGN_REJECT = "campaign.reject"
    TEMPLATE_CHANGE = "template.change"
    SENDS = "sends"
    CONSENT_OVERRIDE = "consent.override"


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev: str, seq: int, at: str, actor: str, action: str, subject: str, details: Any) -> str:
    """sha256(prev + canonical JSON of the entry's fields other than its hash), hex."""
    body = {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject, "details": details}
    body["prev"] = prev
    return hashlib.sha256((prev + canonical(body)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the log; `entry_id` is its stream id."""

    seq: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev: str
    hash: str
    entry_id: str = ""

    def expected_hash(self) -> str:
        return entry_hash(self.prev, self.seq, self.at, self.actor, self.action, self.subject, self.details)


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of walking the chain: `ok`, entries checked, and the first broken link if any."""

    ok: bool
    entries: int
    broken_at: int | None = None  # seq of the first bad entry (or of the entry that should have followed)
    entry_id: str = ""
    reason: str = ""


class ChainChecker:
    """Checks the links of the log one entry at a time (pure): seq runs 1, 2, ..., each prev is the hash
    before it, each hash matches its content, and the last entry is the recorded tip."""

    def __init__(self) -> None:
        self.prev, self.seq = GENESIS, 0

    def feed(self, entry: AuditEntry) -> Verification | None:
        """None while the chain holds; the failure at the first broken link."""
        seq = self.seq + 1
        if entry.seq != seq:
            reason = f"entry {seq} is missing (found seq {entry.seq} next)" if entry.seq > seq else "seq out of order"
            return Verification(False, self.seq, seq, entry.entry_id, reason)
        if entry.prev != self.prev:
            return Verification(False, self.seq, seq, entry.entry_id, "prev is not the previous entry's hash")
        if entry.expected_hash() != entry.hash:
            return Verification(False, self.seq, seq, entry.entry_id, "hash does not match the entry (edited)")
        self.prev, self.seq = entry.hash, seq
        return None

    def finish(self, tip: tuple[int, str] | None) -> Verification:
        """The verdict once every entry was fed; `tip` is the recorded (seq, hash) of the last append."""
        if (tip or (0, GENESIS)) != (self.seq, self.prev):
            last = tip[0] if tip else 0
            reason = f"the log ends at entry {self.seq} but the tip says {last} (entries deleted or replaced)"
            return Verification(False, self.seq, self.seq + 1, "", reason)
        return Verification(True, self.seq)


def check_chain(entries: Iterable[AuditEntry], tip: tuple[int, str] | None) -> Verification:
    """Check a whole log (pure); see ChainChecker."""
    checker = ChainChecker()
    for entry in entries:
        failure = checker.feed(entry)
        if failure:
            return failure
    return checker.finish(tip)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> AuditEntry:
    f = {_text(k): _text(v) for k, v in fields.items()}
    try:
        details = json.loads(f.get("details", "{}"))
        seq = int(f.get("seq", "-1"))
    except ValueError:
        details, seq = {"unreadable": f.get("details", "")}, -1
    return AuditEntry(
        seq,
        f.get("at", ""),
        f.get("actor", ""),
        f.get("action", ""),
        f.get("subject", ""),
        details,
        f.get("prev", ""),
        f.get("hash", ""),
        _text(entry_id),
    )


class AuditLog:
    """Append to and verify the audit stream of one prefix."""

    def __init__(self, redis: Redis, keys: Keys, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.keys = keys
        self.tip_key = keys.audit_tip
        self._clock = clock
        self._append = redis.register_script(_APPEND)
        self._tip = f"0 {GENESIS}"
        self._appending = asyncio.Lock()  # this process's writers take turns; other processes' are retried

    async def append(self, actor: str, action: str, subject: str, details: dict[str, Any] | None = None) -> AuditEntry:
        """Add one entry at the end of the chain; retries when another writer appended first."""
        details = json.loads(canonical(details or {}))  # what verify will read back
        async with self._appending:
            return await self._append_entry(actor, action, subject, details)

    async def _append_entry(self, actor: str, action: str, subject: str, details: dict[str, Any]) -> AuditEntry:
        for _ in range(MAX_ATTEMPTS):
            last_seq, _, prev = self._tip.partition(" ")
            seq = int(last_seq) + 1
            at = datetime.fromtimestamp(self._clock(), CHINA).isoformat(timespec="milliseconds")
            digest = entry_hash(prev, seq, at, actor, action, subject, details)
            args = [self._tip, GENESIS, seq, at, actor, action, subject, canonical(details), prev, digest]
            ok, value = await self._append(keys=[self.keys.audit, self.tip_key], args=args)
            if ok:
                self._tip = f"{seq} {digest}"
                return AuditEntry(seq, at, actor, action, subject, details, prev, digest, _text(value))
            self._tip = _text(value)
        raise RuntimeError(f"audit log: could not append after {MAX_ATTEMPTS} attempts (heavy contention)")

    async def record_template_change(
        self, actor: str, template: str, change: str, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        """A template added, changed or removed (`change`: 'add', 'update', 'remove', 'load', ...)."""
        return await self.append(actor, Action.TEMPLATE_CHANGE, template, {"change": change, **(details or {})})

    async def record_sends(self, unit: str, kind: str, count: int, *, actor: str = "dispatcher") -> AuditEntry:
        """A summary of messages sent: `count` of `kind` for `unit`."""
        return await self.append(actor, Action.SENDS, unit, {"kind": kind, "count": count})

    async def entries(self, *, after: str = "-", count: int | None = None) -> AsyncIterator[AuditEntry]:
        """Entries in order, from the start (or after stream id `after`, exclusive), at most `count`."""
        start = after if after == "-" else f"({after}"
        seen = 0
        while count is None or seen < count:
            page = PAGE if count is None else min(PAGE, count - seen)
            items = await self.redis.xrange(self.keys.audit, min=start, count=page)
            for entry_id, fields in items:
                yield _entry(entry_id, fields)
            seen += len(items)
            if len(items) < page:
                return
            start = f"({_text(items[-1][0])}"

    async def last(self, count: int = 20) -> list[AuditEntry]:
        """The newest `count` entries, oldest first."""
        items = await self.redis.xrevrange(self.keys.audit, count=count)
        return [_entry(entry_id, fields) for entry_id, fields in reversed(items)]

    async def verify(self) -> Verification:
        """Walk the whole stream and report the first broken link (edited, deleted or reordered entries)."""
        raw_tip = await self.redis.get(self.tip_key)
        tip = None
        if raw_tip is not None:
            seq, _, digest = _text(raw_tip).partition(" ")
            tip = (int(seq), digest)
        checker = ChainChecker()
        async for entry in self.entries():
            failure = checker.feed(entry)
            if failure:
                return failure
        return checker.finish(tip)
