"""The job store in Redis: intake stream and consumer group, job records, dead letters, receipts.

Every operation works on a batch and costs one round trip (a pipeline or one EVALSHA), whatever the
batch size: the dispatcher's hot path never pays a round trip per message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from taxsms.queue.jobs import Job, JobError, State
from taxsms.queue.keys import CONSUMER_GROUP, Keys

MESSAGE_ID_TTL_S = 3 * 24 * 3600  # receipts can take days (a phone switched off); keep the mapping 3 days
ENQUEUE_CHUNK = 500
COUNTED_STATES = tuple(State)


def _script(name: str) -> str:
    lua = resources.files("taxsms.queue") / "lua"
    common = (lua / "common.lua").read_text(encoding="utf-8")
    return common + "\n" + (lua / f"{name}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry read from the intake stream: its id, the job id if present, and the raw job JSON."""

    entry_id: str
    job_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome of one job's submission, to be recorded and acked.

    outcome: 'submitted' (message_ids holds one id per part), 'failed', 'dead_lettered' or 'skip'
    (already handled by an earlier attempt: only ack).
    """

    job_id: str
    entry_id: str
    outcome: str
    detail: str = ""
    smpp_status: int = 0
    message_ids: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """A delivery receipt to apply to the message with `message_id`: outcome 'delivered' or 'undelivered'."""

    message_id: str
    outcome: str
    stat: str
    error: str = ""


class JobStore:
    """Batch operations on the job keys of one prefix."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys | None = None,
        *,
        clock: Callable[[], float] = time.time,
        message_id_ttl: int = MESSAGE_ID_TTL_S,
    ) -> None:
        self.redis = redis
        self.keys = keys or Keys()
        self._clock = clock
        self._ttl = message_id_ttl
        self._enqueue = redis.register_script(_script("enqueue"))
        self._begin = redis.register_script(_script("begin"))
        self._settle = redis.register_script(_script("settle"))
        self._receipts = redis.register_script(_script("receipts"))

    # -- intake ------------------------------------------------------------------------------------------

    async def enqueue(self, jobs: Iterable[tuple[Job, bytes]]) -> int:
        """Add (job, canonical JSON) pairs once each; return how many were new (the rest were duplicates)."""
        added = 0
        chunk: list[tuple[Job, bytes]] = []
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in jobs:
                chunk.append(item)
                if len(chunk) == ENQUEUE_CHUNK:
                    await self._queue_enqueue(pipe, chunk)
                    chunk = []
            if chunk:
                await self._queue_enqueue(pipe, chunk)
            for result in await pipe.execute():
                added += int(result)
        return added

    async def _queue_enqueue(self, pipe: Any, chunk: list[tuple[Job, bytes]]) -> None:
        keys = [self.keys.intake, self.keys.counts, *(self.keys.job(job.id) for job, _ in chunk)]
        args: list[Any] = [self._now()]
        for job, payload in chunk:
            args += (job.id, job.kind.value, job.to, payload)
        await self._enqueue(keys=keys, args=args, client=pipe)

    async def dead_letter_raw(self, payload: bytes, error: JobError) -> None:
        """Record a job refused before it entered the stream (e.g. by `taxsms enqueue`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.keys.dead_letters, self._dead_fields("", "", payload, error))
            pipe.hincrby(self.keys.counts, State.DEAD_LETTERED, 1)
            await pipe.execute()

    # -- the consumer group ------------------------------------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if they do not exist yet."""
        try:
            await self.redis.xgroup_create(self.keys.intake, CONSUMER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, consumer: str, count: int, block_ms: int, *, pending: bool = False) -> list[StreamEntry]:
        """Read up to `count` new entries (or, with pending=True, this consumer's own unacked ones)."""
        reply = await self.redis.xreadgroup(
            CONSUMER_GROUP,
            consumer,
            {self.keys.intake: "0" if pending else ">"},
            count=count,
            block=None if pending else block_ms,
        )
        return [entry for _stream, items in reply or () for entry in self.parse_entries(items)]

    @staticmethod
    def parse_entries(items: Sequence[tuple[bytes, dict[bytes, bytes] | None]]) -> list[StreamEntry]:
        """Turn raw (entry id, fields) pairs from XREADGROUP/XAUTOCLAIM into StreamEntry records."""
        entries: list[StreamEntry] = []
        for entry_id, fields in items:
            entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if not fields:  # deleted while pending: nothing left to send
                entries.append(StreamEntry(entry, "", b""))
                continue
            job_id = fields.get(b"id", b"")
            entries.append(StreamEntry(entry, job_id.decode("utf-8", "replace"), fields.get(b"job", b"")))
        return entries

    # -- the dispatch ledger -----------------------------------------------------------------------------

    async def begin(self, jobs: Sequence[tuple[str, Job]]) -> list[bool]:
        """Mark (entry id, job) pairs as being submitted; False for jobs an earlier attempt already settled."""
        if not jobs:
            return []
        keys = [self.keys.counts, *(self.keys.job(job.id) for _, job in jobs)]
        args: list[Any] = [self._now()]
        for entry_id, job in jobs:
            args += (entry_id, job.kind.value, job.to, job.unit)
        flags = await self._begin(keys=keys, args=args)
        return [bool(flag) for flag in flags]

    async def settle(self, settlements: Sequence[Settlement], *, client: Any = None) -> None:
        """Record outcomes, then ack their entries, atomically (one script call)."""
        if not settlements:
            return
        keys = [self.keys.intake, self.keys.counts, self.keys.stats]
        args: list[Any] = [CONSUMER_GROUP, self._now(), self._ttl, self.keys.prefix]
        for s in settlements:
            keys.append(self.keys.job(s.job_id))
            args += (s.entry_id, s.outcome, s.detail, s.smpp_status, len(s.message_ids), *s.message_ids)
        await self._settle(keys=keys, args=args, client=client)

    async def dead_letter(self, entries: Sequence[tuple[StreamEntry, JobError]]) -> None:
        """Move invalid entries to the dead-letter stream with their reason, record and ack them."""
        if not entries:
            return
        settlements = [
            Settlement(e.job_id, e.entry_id, State.DEAD_LETTERED, f"{err.field}: {err.reason}") for e, err in entries
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry, error in entries:
                pipe.xadd(
                    self.keys.dead_letters,
                    self._dead_fields(entry.entry_id, entry.job_id, entry.payload, error),
                )
            await self.settle(settlements, client=pipe)
            await pipe.execute()

    async def apply_receipts(self, receipts: Sequence[ReceiptUpdate], *, client: Any = None) -> int:
        """Apply delivery receipts to their jobs; return how many ids were unknown (kept as orphans).

        With a pipeline as `client` the call is only queued (the count comes with the pipeline's results).
        """
        if not receipts:
            return 0
        args: list[Any] = [self._now(), self._ttl, self.keys.prefix]
        for r in receipts:
            args += (r.message_id, r.outcome, r.stat.replace(" ", "_") or "-", r.error.replace(" ", "_"))
        result = await self._receipts(keys=[self.keys.counts, self.keys.stats], args=args, client=client)
        return 0 if client is not None else int(result)

    # -- reading state -------------------------------------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        """Number of jobs in each state (every state present, zero when none)."""
        raw = await self.redis.hgetall(self.keys.counts)
        counts = {state.value: 0 for state in COUNTED_STATES}
        for name, value in raw.items():
            counts[name.decode()] = int(value)
        return counts

    async def stats(self) -> dict[str, int]:
        raw = await self.redis.hgetall(self.keys.stats)
        return {name.decode(): int(value) for name, value in raw.items()}

    async def job(self, job_id: str) -> dict[str, str] | None:
        """One job's full record, or None if unknown."""
        raw = await self.redis.hgetall(self.keys.job(job_id))
        if not raw:
            return None
        return {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}

    # -- helpers -----------------------------------------------------------------------------------------------

    def _now(self) -> str:
        return f"{self._clock():.3f}"

    def _dead_fields(self, entry_id: str, job_id: str, payload: bytes, error: JobError) -> dict[str, Any]:
        return {
            "id": job_id,
            "entry": entry_id,
            "field": error.field,
            "reason": error.reason,
            "job": payload,
            "at": self._now(),
        }
