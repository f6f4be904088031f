"""The append-only, hash-chained audit log, in the Redis stream `keys.audit`.

Each entry holds seq, at, actor, action, subject, details (canonical JSON), prev and hash, where
hash = HMAC-SHA256(audit key, prev + canonical JSON of the entry without its hash). The key is a secret kept
outside Redis (`audit_key()`: $TAXSMS_AUDIT_KEY, the file $TAXSMS_AUDIT_KEY_FILE, or a file created once in
the state directory), so whoever can write Redis cannot rewrite an entry and recompute its hash: `verify`
fails. Appending is compare-and-append in Lua:
the script checks that the chain's tip (key `keys.audit_tip`, "seq hash") is still the one the hash was
computed from, then XADDs and moves the tip, so concurrent writers retry instead of forking the chain. The
tip also lets `verify` notice entries deleted from the end of the stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from taxsms.queue.jobs import CHINA
from taxsms.queue.keys import Keys

GENESIS = "0" * 64
KEY_ENV, KEY_FILE_ENV = "TAXSMS_AUDIT_KEY", "TAXSMS_AUDIT_KEY_FILE"
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
    OPERATOR_CONFIRM = "operator.confirm"
    UNIT_SUSPEND = "unit.suspend"
    UNIT_REINSTATE = "unit.reinstate"
    CAMPAIGN_CANCEL = "campaign.cancel"
    CAMPAIGN_REFUSED = "campaign.refused"
    TEMPLATE_CHANGE = "template.change"
    CONSENT_OVERRIDE = "consent.override"
    REVIEW_LOAD = "review.load"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    TOKEN_REFUSED = "token.refused"  # an API token not issued (or revoked): who asked, what, why
    SYSTEM_ADD = "system.add"
    SYSTEM_REMOVE = "system.remove"
    QUOTA_SET = "quota.set"
    SUBSCRIPTION_SET = "subscription.set"
    TICKET_ANSWER = "ticket.answer"
    SEND = "send"  # jobs accepted on a path: who, unit, path, counts
    SEND_REFUSED = "send.refused"  # jobs refused by the admission policy: who, path, counts, reasons


def _state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "taxsms"


def audit_key() -> bytes:
    """The secret the chain is keyed with: $TAXSMS_AUDIT_KEY, else the file $TAXSMS_AUDIT_KEY_FILE, else
    <state dir>/taxsms/audit.key (created with 32 random bytes, mode 0600, on first use). Never in Redis."""
    given = os.environ.get(KEY_ENV)
    if given:
        return given.encode()
    path = Path(os.environ.get(KEY_FILE_ENV) or _state_dir() / "audit.key")
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        if os.environ.get(KEY_FILE_ENV):
            raise
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_bytes().strip()
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(key: bytes, prev: str, seq: int, at: str, actor: str, action: str, subject: str, details: Any) -> str:
    """HMAC-SHA256(key, prev + canonical JSON of the entry's fields other than its hash), hex."""
    body = {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject, "details": details}
    body["prev"] = prev
    return hmac.new(key, (prev + canonical(body)).encode(), hashlib.sha256).hexdigest()


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

    def expected_hash(self, key: bytes) -> str:
        return entry_hash(key, self.prev, self.seq, self.at, self.actor, self.action, self.subject, self.details)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": self.details,
            "hash": self.hash,
        }


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

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.prev, self.seq = GENESIS, 0

    def feed(self, entry: AuditEntry) -> Verification | None:
        """None while the chain holds; the failure at the first broken link."""
        seq = self.seq + 1
        if entry.seq != seq:
            reason = f"entry {seq} is missing (found seq {entry.seq} next)" if entry.seq > seq else "seq out of order"
            return Verification(False, self.seq, seq, entry.entry_id, reason)
        if entry.prev != self.prev:
            return Verification(False, self.seq, seq, entry.entry_id, "prev is not the previous entry's hash")
        if not hmac.compare_digest(entry.expected_hash(self.key), entry.hash):
            reason = "hash does not match the entry (edited, or written without the audit key)"
            return Verification(False, self.seq, seq, entry.entry_id, reason)
        self.prev, self.seq = entry.hash, seq
        return None

    def finish(self, tip: tuple[int, str] | None) -> Verification:
        """The verdict once every entry was fed; `tip` is the recorded (seq, hash) of the last append."""
        if (tip or (0, GENESIS)) != (self.seq, self.prev):
            last = tip[0] if tip else 0
            reason = f"the log ends at entry {self.seq} but the tip says {last} (entries deleted or replaced)"
            return Verification(False, self.seq, self.seq + 1, "", reason)
        return Verification(True, self.seq)


def check_chain(entries: Iterable[AuditEntry], tip: tuple[int, str] | None, key: bytes) -> Verification:
    """Check a whole log (pure); see ChainChecker."""
    checker = ChainChecker(key)
    for entry in entries:
        failure = checker.feed(entry)
        if failure:
            return failure
    return checker.finish(tip)


def _instant(text: str) -> float:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=CHINA)).timestamp()


def _mentions(entry: AuditEntry, unit: str) -> bool:
    if entry.subject == unit:
        return True
    details = entry.details
    units = details.get("units", [])
    return unit in (details.get("unit"), details.get("recipient_unit")) or (isinstance(units, list) and unit in units)


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

    def __init__(
        self, redis: Redis, keys: Keys, *, clock: Callable[[], float] = time.time, key: bytes | None = None
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.tip_key = keys.audit_tip
        self.key = key if key is not None else audit_key()
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
            digest = entry_hash(self.key, prev, seq, at, actor, action, subject, details)
            args = [self._tip, GENESIS, seq, at, actor, action, subject, canonical(details), prev, digest]
            ok, value = await self._append(keys=[self.keys.audit, self.tip_key], args=args)
            if ok:
                self._tip = f"{seq} {digest}"
                return AuditEntry(seq, at, actor, action, subject, details, prev, digest, _text(value))
            self._tip = _text(value)
        raise RuntimeError(f"audit log: could not append after {MAX_ATTEMPTS} attempts (heavy contention)")

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

    async def select(
        self,
        *,
        since: str = "",
        unit: str = "",
        operator: str = "",
        action: str = "",
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in order matching every filter given: `since` an ISO time (China time if no offset) the entry
        is at or after, `unit` named as the subject or in the details (unit, units, recipient units),
        `operator` the actor, `action` a full action or a prefix ending in '.' ('campaign.'). The newest
        `limit` of them if given."""
        found: list[AuditEntry] = []
        since_ts = _instant(since) if since else None
        async for entry in self.entries():
            if since_ts is not None and _instant(entry.at) < since_ts:
                continue
            if operator and entry.actor != operator:
                continue
            if action and not (entry.action == action or (action.endswith(".") and entry.action.startswith(action))):
                continue
            if unit and not _mentions(entry, unit):
                continue
            found.append(entry)
        return found[-limit:] if limit else found

    async def verify(self) -> Verification:
        """Walk the whole stream and report the first broken link (edited, deleted or reordered entries)."""
        raw_tip = await self.redis.get(self.tip_key)
        tip = None
        if raw_tip is not None:
            seq, _, digest = _text(raw_tip).partition(" ")
            tip = (int(seq), digest)
        checker = ChainChecker(self.key)
        async for entry in self.entries():
            failure = checker.feed(entry)
            if failure:
                return failure
        return checker.finish(tip)
