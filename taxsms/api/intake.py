"""Intake over HTTP: validate raw jobs, hold them to the token's scope, enqueue in chunks, report per item.

One `Intake` per request. Items are fed one at a time (from a JSON array or an NDJSON stream); valid ones
are enqueued `chunk` at a time, one Redis round trip per chunk; refused ones are dead-lettered with the
field and the reason, and reported back by their index.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import msgspec
from redis.asyncio import Redis

from taxsms.api.auth import ApiToken
from taxsms.queue.jobs import Job, JobError, job_id_of, parse_job
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

    def __init__(self, redis: Redis, keys: Keys, store: JobStore, token: ApiToken, chunk: int) -> None:
        self.redis = redis
        self.keys = keys
        self.store = store
        self.token = token
        self.chunk = chunk
        self.result = IntakeResult()
        self._batch: list[Job] = []
        self._refused: list[tuple[bytes, JobError]] = []

    def check(self, index: int, raw: bytes) -> Job | None:
        """Validate one item; record and return None if refused."""
        try:
            job = parse_job(raw)
        except JobError as error:
            self._refuse(index, raw, error, "invalid_job", job_id_of(raw))
            return None
        refusal = self.token.refusal(job)
        if refusal:
            self._refuse(index, raw, JobError(*refusal), "forbidden", job.id)
            return None
        if not job.unit:
            job = msgspec.structs.replace(job, unit=self.token.unit)
        return job

    async def feed(self, index: int, raw: bytes) -> None:
        job = self.check(index, raw)
        if job is not None:
            self._batch.append(job)
            if len(self._batch) >= self.chunk:
                await self._flush()

    async def finish(self) -> IntakeResult:
        await self._flush()
        refused, self._refused = self._refused, []
        for start in range(0, len(refused), DEAD_LETTER_CONCURRENCY):
            group = refused[start : start + DEAD_LETTER_CONCURRENCY]
            await asyncio.gather(*(self.store.dead_letter_raw(raw, error) for raw, error in group))
        return self.result

    def _refuse(self, index: int, raw: bytes, error: JobError, kind: str, job_id: str) -> None:
        self.result.rejected += 1
        self.result.errors.append(ItemError(index, error.field, error.reason, job_id, kind))
        self._refused.append((bytes(raw).strip(), error))

    async def _flush(self) -> None:
        batch, self._batch = self._batch, []
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
