"""Recipients' units from the directory, for the admission gate: a job that leaves out `recipient_unit`.

`RecipientUnits.prefetch_jobs(jobs)` looks up, for a whole batch, the units of the taxpayers registered on
each job's phone (its consent record names them; their records name the unit), of the taxpayer the job
names (if the phone is its own), and of staff members with that phone: at most three pipelined round trips
per batch (consent buckets, taxpayer buckets, the staff hash), none for a batch whose jobs all carry their
recipient unit. `units(phone, taxpayer_id)` then answers from what was fetched, without I/O, as the pure
policy (taxsms.governance.policy) calls it. Nothing found: an empty set (the policy refuses the job).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from redis.asyncio import Redis

from taxsms.directory.buckets import BucketReader
from taxsms.directory.records import Staff, Taxpayer
from taxsms.queue.jobs import Job, Kind
from taxsms.queue.keys import Keys

NOBODY: frozenset[str] = frozenset()

_staff = msgspec.json.Decoder(Staff)


def needs_lookup(job: Job) -> bool:
    """A job whose recipient unit must come from the directory (a reply answers whoever wrote in)."""
    return not job.recipient_unit and job.kind is not Kind.REPLY


def taxpayers_on(record: bytes) -> list[str]:
    """The taxpayer ids a phone's consent record registers ('<sms>,<id>=<state>,...,' then the trail)."""
    header = record.split(b"\n", 1)[0].decode()
    return [part.partition("=")[0] for part in header.split(",")[1:] if "=" in part and not part.startswith("*=")]


class RecipientUnits:
    """Directory lookups for admission, fetched per batch and answered without I/O."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._reader = BucketReader(redis)
        self._by_phone: dict[str, frozenset[str]] = {}
        self._by_taxpayer: dict[str, tuple[str, tuple[str, ...]]] = {}  # id -> (unit, phones)

    async def prefetch_jobs(self, jobs: Iterable[Job]) -> None:
        """prefetch() for the jobs that need a lookup (see needs_lookup)."""
        await self.prefetch((job.to, job.taxpayer_id) for job in jobs if needs_lookup(job))

    async def prefetch(self, recipients: Iterable[tuple[str, str]]) -> None:
        """Fetch what `units` will be asked about these (phone, taxpayer id or '') recipients, and nothing else."""
        self._by_phone, self._by_taxpayer = {}, {}  # each batch reads the directory as it is now
        wanted = list(recipients)
        if not wanted:
            return
        phones = sorted({phone for phone, _ in wanted})
        named = {taxpayer_id for _, taxpayer_id in wanted if taxpayer_id}
        records = await self._reader.get([(self.keys.consent(phone), phone) for phone in phones])
        on_phone = {phone: taxpayers_on(rec) if rec else [] for phone, rec in zip(phones, records, strict=True)}
        ids = sorted(named.union(*on_phone.values()))
        packed = await self._reader.get([(self.keys.taxpayer_bucket(tid), tid) for tid in ids])
        for tid, data in zip(ids, packed, strict=True):
            if data:
                record = Taxpayer.unpack(tid, data)
                self._by_taxpayer[tid] = (record.unit, record.phones)
        staff: dict[str, set[str]] = {}
        for raw in (await self.redis.hgetall(self.keys.staff)).values():
            member = _staff.decode(raw)
            staff.setdefault(member.phone, set()).add(member.unit)
        for phone in phones:
            units = {self._by_taxpayer.get(tid, ("", ()))[0] for tid in on_phone[phone]} | staff.get(phone, set())
            self._by_phone[phone] = frozenset(units - {""})

    def units(self, phone: str, taxpayer_id: str = "") -> frozenset[str]:
        """The recipient's possible units: the named taxpayer's if the phone is one of its own, else those of
        everyone the directory has on the phone (naming a taxpayer does not lend its unit to another phone)."""
        unit, phones = self._by_taxpayer.get(taxpayer_id, ("", ())) if taxpayer_id else ("", ())
        if unit and phone in phones:
            return frozenset({unit})
        return self._by_phone.get(phone, NOBODY)
