"""Intake over HTTP: validate raw jobs, admit them for the token (the admission policy), enqueue in chunks.

One `Intake` per request. Items are fed one at a time (from a JSON array or an NDJSON stream) and admitted for
the token as it is registered (`Gate.registered`: its keeper from the record the worker reads); admitted ones
are enqueued `chunk` at a time, one Redis round trip per chunk; refused ones are dead-lettered with the
field and the reason, reported back by their index, and audited (one entry per request). A job's id is
stored under the token's namespace (`<token id>/<id>`), so no token can take another's ids.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import msgspec
from redis.asyncio import Redis

from taxsms.api.auth import ApiToken
from taxsms.governance.admission import Gate, Refusal
from taxsms.governance.policy import Principal, Refused, Registry, admit
from taxsms.queue.jobs import MAX_JOB_ID_LENGTH, Job, JobError, job_id_of, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore, job_shards

DEAD_LETTER_CONCURRENCY = 32


class ItemError(msgspec.Struct):
    """Why the item at `index` (0-based position in the array, or line in the NDJSON stream) was refused."""

    index: int
    field: str
    reason: str
    id: str = ""
    error: str = "invalid_job"  # or 'forbidden' (outside the token's scope)


@dataclass(slots=True)
class IntakeResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[ItemError] = field(default_factory=list)

    def body(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": self.errors,
        }


class Intake:
    """Feed raw items, then `finish()`; the result counts accepted, duplicate and rejected jobs."""

    def __init__(self, redis: Redis, keys: Keys, store: JobStore, token: ApiToken, chunk: int, gate: Gate) -> None:
        self.redis = redis
        self.keys = keys
        self.store = store
        self.token = token
        self.chunk = chunk
        self.gate = gate
        self.result = IntakeResult()
        self._batch: list[tuple[int, bytes, Job]] = []
        self._refused: list[tuple[bytes, JobError]] = []
        self._audited: list[Refusal] = []

    def check(self, index: int, raw: bytes, job: Job, principal: Principal, registry: Registry) -> Job | None:
        """Admit one parsed item for the token's registered `principal`; record and return None if refused."""
        try:
            job = admit(job, principal, registry)
        except Refused as error:
            self._refuse(index, raw, error, "forbidden", job.id)
            return None
        stored_id = self.token.namespace + job.id
        if len(stored_id) > MAX_JOB_ID_LENGTH:
            error = JobError("id", f"at most {MAX_JOB_ID_LENGTH - len(self.token.namespace)} characters")
            self._refuse(index, raw, error, "invalid_job", job.id)
            return None
        return msgspec.structs.replace(job, id=stored_id)

    async def feed(self, index: int, raw: bytes) -> None:
        """Validate one item; admitted and enqueued with its chunk (the directory looked up once per chunk)."""
        try:
            job = parse_job(raw)
        except JobError as error:
            self._refuse(index, raw, error, "invalid_job", job_id_of(raw))
            return
        self._batch.append((index, raw, job))
        if len(self._batch) >= self.chunk:
            await self._flush()

    async def finish(self) -> IntakeResult:
        await self._flush()
        actor = self.token.tag
        await self.gate.record_sent(actor, self.token.unit, "api", self.result.accepted, self.result.duplicates)
        await self.gate.record_refused(actor, "api", self._audited, self.token.unit)
        self._audited = []
        self.result.errors.sort(key=lambda error: error.index)
        refused, self._refused = self._refused, []
        for start in range(0, len(refused), DEAD_LETTER_CONCURRENCY):
            group = refused[start : start + DEAD_LETTER_CONCURRENCY]
            await asyncio.gather(*(self.store.dead_letter_raw(raw, error) for raw, error in group))
        return self.result

    def _refuse(self, index: int, raw: bytes, error: JobError, kind: str, job_id: str) -> None:
        self.result.rejected += 1
        self.result.errors.append(ItemError(index, error.field, error.reason, job_id, kind))
        self._refused.append((bytes(raw).strip(), error))
        self._audited.append(Refusal(job_id, error))

    async def _flush(self) -> None:
        parsed, self._batch = self._batch, []
        if not parsed:
            return
        registry = await self.gate.prepare([job for _, _, job in parsed])
        try:
            principal = await self.gate.registered(self.token.tag)  # its keeper as the worker will see it
        except Refused as error:
            for index, raw, job in parsed:
                self._refuse(index, raw, error, "forbidden", job.id)
            return
        checked = (self.check(index, raw, job, principal, registry) for index, raw, job in parsed)
        batch = [job for job in checked if job is not None]
        if not batch:
            return
        added = await self.store.enqueue(batch)
        self.result.accepted += added
        self.result.duplicates += len(batch) - added
        await self._label(batch)

    async def _label(self, batch: list[Job]) -> None:
        """Note the issuing unit on each job record (HSETNX), so tokens read only their own unit's jobs."""
        shards = await job_shards(self.redis, self.keys, [job.id for job in batch])
        async with self.redis.pipeline(transaction=False) as pipe:
            for job, shard in zip(batch, shards, strict=True):
                if shard is not None:
                    pipe.hsetnx(shard.job(job.id), "unit", job.unit)
            await pipe.execute()
