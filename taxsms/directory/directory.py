"""The directory in Redis: taxpayer records in bucket hashes of their shard, staff in one control hash.

Taxpayers are written in batches: one script per shard swaps the records and returns the old ones, so the
consent book can register new phones, take the taxpayer off phones it no longer has, and record each
change in the phone's trail (how: the import file and row, or the operator and reason).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass

import msgspec
from redis.asyncio import Redis

from taxsms.directory.buckets import BucketReader
from taxsms.directory.records import Staff, Taxpayer
from taxsms.queue.keys import DIRECTORY_BUCKETS, Keys
from taxsms.queue.store import ScriptCall, run_scripts
from taxsms.replies.subscriptions import ConsentChange, How, SubscriptionBook

READ_BUCKETS = 128  # bucket hashes read per pipeline when listing

# KEYS: one bucket per record; ARGV: per record, its taxpayer id and packed record ('' deletes it).
# Returns the old packed record of each ('' when there was none).
_PUT_LUA = """
local old = {}
for i = 1, #KEYS do
  local id, packed = ARGV[2 * i - 1], ARGV[2 * i]
  old[i] = redis.call('HGET', KEYS[i], id) or ''
  if packed == '' then redis.call('HDEL', KEYS[i], id) else redis.call('HSET', KEYS[i], id, packed) end
end
return old
"""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a change comes from, for the consent trail: an import (id, row) or staff (operator, reason)."""

    how: How
    ref: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    """One taxpayer to store (or delete: `delete`), with consent per phone (True / False; absent: unchanged)."""

    taxpayer: Taxpayer
    consent: dict[str, bool]
    origin: Origin
    delete: bool = False


class Directory:
    """Taxpayers and staff under one key prefix."""

    def __init__(self, redis: Redis, keys: Keys, *, consent: SubscriptionBook | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.consent = consent or SubscriptionBook(redis, keys)
        self._put = redis.register_script(_PUT_LUA)
        self._reader = BucketReader(redis)

    # -- taxpayers ---------------------------------------------------------------------------------------

    async def apply(self, changes: Sequence[Change], at: float) -> int:
        """Store (or delete) taxpayers and apply their consent changes; return how many records changed."""
        latest = {change.taxpayer.id: change for change in changes}  # a later row for the same id wins
        by_shard: dict[int, list[Change]] = {}
        for change in latest.values():
            by_shard.setdefault(self.keys.taxpayer_shard(change.taxpayer.id), []).append(change)
        calls: list[ScriptCall] = []
        for group in by_shard.values():
            keys = [self.keys.taxpayer_bucket(c.taxpayer.id) for c in group]
            args = [arg for c in group for arg in (c.taxpayer.id, b"" if c.delete else c.taxpayer.pack())]
            calls.append((self._put, keys, args))
        consent: list[ConsentChange] = []
        changed = 0
        for group, olds in zip(by_shard.values(), await run_scripts(self.redis, calls), strict=True):
            for change, old in zip(group, olds, strict=True):
                before = Taxpayer.unpack(change.taxpayer.id, old).phones if old else []
                if old != (b"" if change.delete else change.taxpayer.pack()):
                    changed += 1
                consent += _consent_changes(change, before, at)
        if consent:
            await self.consent.apply(consent)
        return changed

    async def get(self, taxpayer_id: str) -> Taxpayer | None:
        return (await self.get_many([taxpayer_id])).get(taxpayer_id)

    async def get_many(self, taxpayer_ids: Iterable[str]) -> dict[str, Taxpayer]:
        ids = list(dict.fromkeys(taxpayer_ids))
        values = await self._reader.get([(self.keys.taxpayer_bucket(tid), tid) for tid in ids])
        return {tid: Taxpayer.unpack(tid, value) for tid, value in zip(ids, values, strict=True) if value}

    async def taxpayers(self, units: Collection[str] | None = None) -> AsyncIterator[list[Taxpayer]]:
        """Every taxpayer (of `units` only, when given), in batches, in no particular order."""
        buckets = [shard.taxpayer_bucket_at(n) for shard in self.keys.every_shard() for n in range(DIRECTORY_BUCKETS)]
        wanted = None if units is None else set(units)
        for start in range(0, len(buckets), READ_BUCKETS):
            async with self.redis.pipeline(transaction=False) as pipe:
                for bucket in buckets[start : start + READ_BUCKETS]:
                    pipe.hgetall(bucket)
                results = await pipe.execute()
            batch = [Taxpayer.unpack(tid.decode(), packed) for records in results for tid, packed in records.items()]
            if wanted is not None:
                batch = [taxpayer for taxpayer in batch if taxpayer.unit in wanted]
            if batch:
                yield batch

    async def count(self) -> int:
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self.keys.every_shard():
                for n in range(DIRECTORY_BUCKETS):
                    pipe.hlen(shard.taxpayer_bucket_at(n))
            return sum(await pipe.execute())

    # -- staff -------------------------------------------------------------------------------------------

    async def put_staff(self, members: Sequence[Staff]) -> None:
        if members:
            await self.redis.hset(self.keys.staff, mapping={m.code: _staff_encoder.encode(m) for m in members})

    async def delete_staff(self, code: str) -> bool:
        return bool(await self.redis.hdel(self.keys.staff, code))

    async def staff(self, units: Collection[str] | None = None) -> list[Staff]:
        members = [_staff_decoder.decode(raw) for raw in (await self.redis.hgetall(self.keys.staff)).values()]
        return sorted((m for m in members if units is None or m.unit in units), key=lambda m: m.code)


_staff_encoder = msgspec.json.Encoder()
_staff_decoder = msgspec.json.Decoder(Staff)


def _consent_changes(change: Change, before: list[str], at: float) -> list[ConsentChange]:
    origin, tid = change.origin, change.taxpayer.id
    now = [] if change.delete else change.taxpayer.phones
    out = []
    for phone in now:
        if phone in change.consent:
            out.append(ConsentChange(phone, change.consent[phone], origin.how, at, tid, origin.ref, origin.detail))
        elif phone not in before:
            out.append(ConsentChange(phone, None, origin.how, at, tid, origin.ref, origin.detail))
    for phone in before:
        if phone not in now:
            out.append(ConsentChange(phone, None, origin.how, at, tid, origin.ref, origin.detail, remove=True))
    return out
