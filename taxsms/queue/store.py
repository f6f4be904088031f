"""The job store in Redis: intake stream and consumer group, job records, dead letters, receipts.

Every operation works on a batch and costs one round trip (a pipeline or one EVALSHA), whatever the
batch size: the dispatcher's hot path never pays a round trip per message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from taxsms.queue.jobs import CHINA, Job, JobError, Lane, State, job_json, pack_job, parse_job
from taxsms.queue.keys import CONSUMER_GROUP, Keys

MESSAGE_ID_TTL_S = 3 * 24 * 3600  # receipts can take days (a phone switched off); keep the mapping 3 days
ENQUEUE_CHUNK = 500
COUNTED_STATES = tuple(State)


def load_script(name: str, *, common: bool = True) -> str:
    """The Lua source of taxsms/queue/lua/<name>.lua, with the shared helpers of common.lua prepended."""
    lua = resources.files("taxsms.queue") / "lua"
    source = (lua / f"{name}.lua").read_text(encoding="utf-8")
    return (lua / "common.lua").read_text(encoding="utf-8") + "\n" + source if common else source


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry read from a job stream: the stream, its id, the job id if the entry names it (upstream pushes
    do; the lanes' entries carry it inside the job), and the job as stored (JSON, or packed in the lanes)."""

    stream: str
    entry_id: str
    job_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Settlement:
    """The outcome of one job's attempt, to be recorded and acked (see settle.lua for the outcomes).

    message_ids: one per part for 'submitted'; release_at: when a 'delayed' job may go (epoch seconds);
    payload: the job JSON, kept with a delayed or retried job so it can be released into its lane again.
    """

    job_id: str
    stream: str
    entry_id: str
    outcome: str
    detail: str = ""
    smpp_status: int = 0
    message_ids: Sequence[str] = ()
    release_at: float = 0.0
    lane: int = 0
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """A delivery receipt to apply to the message with `message_id`: outcome 'delivered' or 'undelivered'."""

    message_id: str
    outcome: str
    stat: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class DispatchRules:
    """What the claim script checks before a job may be sent (subscriptions, caps, quotas) and how retries go.

    subscription_kinds: kinds an unsubscribe suppresses; unknown_subscription: 'send' or 'suppress' for
    phones with no record (the regulation: reminders only to those who subscribed); daily_caps: kind ->
    most messages of that kind to one phone per day (replies are never capped); quota_kinds: kinds stopped
    when the unit's monthly quota is used up.
    """

    subscription_kinds: frozenset[str] = frozenset({"filing_reminder"})
    unknown_subscription: str = "suppress"
    daily_caps: Mapping[str, int] = field(default_factory=lambda: {"filing_reminder": 3})
    quota_kinds: frozenset[str] = frozenset({"notice", "internal"})
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    max_retries: int = 5

    def __post_init__(self) -> None:
        if self.unknown_subscription not in ("send", "suppress"):
            raise ValueError(f"unknown_subscription must be 'send' or 'suppress', not {self.unknown_subscription!r}")
        if "reply" in self.daily_caps or "reply" in self.subscription_kinds or "reply" in self.quota_kinds:
            raise ValueError("replies to taxpayers are never capped, suppressed by subscription or by quota")


def _entry_id(ref: str) -> str:
    """A stream entry id back from the queued index's integer form (see entry_ref in common.lua)."""
    if "-" in ref:
        return ref
    ms, seq = divmod(int(ref), 1024)
    return f"{ms}-{seq}"


def _csv(items: Iterable[str]) -> str:
    return "," + ",".join(items) + ","


class JobStore:
    """Batch operations on the job keys of one prefix."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys | None = None,
        *,
        clock: Callable[[], float] = time.time,
        message_id_ttl: int = MESSAGE_ID_TTL_S,
        rules: DispatchRules | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys or Keys()
        self.rules = rules or DispatchRules()
        self._clock = clock
        self._ttl = message_id_ttl
        self._release = redis.register_script(load_script("release"))
        self._enqueue = redis.register_script(load_script("enqueue"))
        self._begin = redis.register_script(load_script("begin"))
        self._settle = redis.register_script(load_script("settle"))
        self._receipts = redis.register_script(load_script("receipts"))

    # -- intake ------------------------------------------------------------------------------------------

    async def enqueue(self, jobs: Iterable[Job]) -> int:
        """Add validated jobs once each; return how many were new (the rest were duplicates)."""
        added = 0
        chunk: list[Job] = []
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

    async def _queue_enqueue(self, pipe: Any, chunk: list[Job]) -> None:
        keys = [self.keys.counts, self.keys.events, *(self.keys.lane(lane) for lane in Lane)]
        args: list[Any] = [self._now(), self.keys.prefix]
        for job in chunk:
            keys += (self.keys.job(job.id), self.keys.queued_index(job.id))
            args += (job.id, int(job.lane), pack_job(job))
        await self._enqueue(keys=keys, args=args, client=pipe)

    async def dead_letter_raw(self, payload: bytes, error: JobError) -> None:
        """Record a job refused before it entered the stream (e.g. by `taxsms enqueue`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.keys.dead_letters, self._dead_fields("", "", payload, error))
            pipe.hincrby(self.keys.counts, State.DEAD_LETTERED, 1)
            await pipe.execute()

    # -- the consumer group ------------------------------------------------------------------------------

    @property
    def streams(self) -> list[str]:
        """Every stream the dispatchers read, most urgent first: the lanes, then raw upstream intake."""
        return [*(self.keys.lane(lane) for lane in Lane), self.keys.intake]

    async def ensure_group(self) -> None:
        """Create the consumer group on every job stream (and the streams) if they do not exist yet."""
        for stream in self.streams:
            try:
                await self.redis.xgroup_create(stream, CONSUMER_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def read(
        self, consumer: str, streams: Sequence[str], count: int, block_ms: int | None, *, pending: bool = False
    ) -> list[StreamEntry]:
        """Read up to `count` new entries from each of `streams` (pending=True: this consumer's unacked ones).

        Entries come back in the order of `streams`, so listing the lanes most urgent first keeps priority.
        """
        reply = await self.redis.xreadgroup(
            CONSUMER_GROUP,
            consumer,
            dict.fromkeys(streams, "0" if pending else ">"),
            count=count,
            block=None if pending else block_ms,
        )
        by_stream = {self._text(name): items for name, items in reply or ()}
        return [entry for stream in streams for entry in self.parse_entries(stream, by_stream.get(stream, ()))]

    @staticmethod
    def _text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    @classmethod
    def parse_entries(cls, stream: str, items: Sequence[tuple[bytes, dict[bytes, bytes] | None]]) -> list[StreamEntry]:
        """Turn raw (entry id, fields) pairs from XREADGROUP/XAUTOCLAIM into StreamEntry records."""
        entries: list[StreamEntry] = []
        for entry_id, fields in items:
            entry = cls._text(entry_id)
            if not fields:  # deleted while pending: nothing left to send
                entries.append(StreamEntry(stream, entry, "", b""))
                continue
            job_id = fields.get(b"id", b"")
            entries.append(StreamEntry(stream, entry, job_id.decode("utf-8", "replace"), fields.get(b"job", b"")))
        return entries

    async def release_due(self, limit: int = 1000) -> int:
        """Move delayed jobs whose release time has come back into their lanes; return how many."""
        keys = [self.keys.counts, self.keys.events]
        return int(await self._release(keys=keys, args=[self._now(), self.keys.prefix, len(Lane), limit]))

    async def delayed_counts(self) -> dict[int, int]:
        """Jobs waiting in each lane's delayed set."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in Lane:
                pipe.zcard(self.keys.delayed(lane))
            return dict(zip((int(lane) for lane in Lane), await pipe.execute(), strict=True))

    # -- the dispatch ledger -----------------------------------------------------------------------------

    async def begin(self, jobs: Sequence[tuple[StreamEntry, Job]]) -> list[bool]:
        """Claim (entry, job) pairs for submission; False for jobs skipped or suppressed (recorded and acked)."""
        if not jobs:
            return []
        rules, moment = self.rules, datetime.fromtimestamp(self._clock(), CHINA)
        keys = [self.keys.counts, self.keys.events]
        for _, job in jobs:
            keys += (self.keys.job(job.id), self.keys.queued_index(job.id))
        caps = _csv(f"{kind}={n}" for kind, n in rules.daily_caps.items())
        args: list[Any] = [
            self._now(), self.keys.prefix, CONSUMER_GROUP, f"{moment:%Y%m%d}", f"{moment:%Y-%m}",
            _csv(rules.subscription_kinds), rules.unknown_subscription, caps, _csv(rules.quota_kinds),
        ]  # fmt: skip
        for entry, job in jobs:
            args += (entry.stream, entry.entry_id, job.kind.value, job.to, job.unit)
        flags = await self._begin(keys=keys, args=args)
        return [bool(flag) for flag in flags]

    async def settle(self, settlements: Sequence[Settlement], *, client: Any = None) -> None:
        """Record outcomes, then ack their entries, atomically (one script call)."""
        if not settlements:
            return
        rules, month = self.rules, f"{datetime.fromtimestamp(self._clock(), CHINA):%Y-%m}"
        keys = [self.keys.counts, self.keys.events, self.keys.stats, self.keys.dead_letters]
        args: list[Any] = [
            self._now(), self.keys.prefix, CONSUMER_GROUP, self._ttl, month,
            rules.retry_base_s, rules.retry_max_s, rules.max_retries,
        ]  # fmt: skip
        for s in settlements:
            keys += (self.keys.job(s.job_id), self.keys.queued_index(s.job_id))
            args += (s.stream, s.entry_id, s.outcome, s.detail, s.smpp_status, f"{s.release_at:.3f}", int(s.lane))
            args += (s.payload, len(s.message_ids), *s.message_ids)
        await self._settle(keys=keys, args=args, client=client)

    async def dead_letter(self, entries: Sequence[tuple[StreamEntry, JobError]]) -> None:
        """Move invalid entries to the dead-letter stream with their reason, record and ack them."""
        if not entries:
            return
        settlements = [
            Settlement(e.job_id, e.stream, e.entry_id, State.DEAD_LETTERED, f"{err.field}: {err.reason}")
            for e, err in entries
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
        args: list[Any] = [self._now(), self.keys.prefix, self._ttl]
        for r in receipts:
            args += (r.message_id, r.outcome, r.stat.replace(" ", "_") or "-", r.error.replace(" ", "_"))
        keys = [self.keys.counts, self.keys.events, self.keys.stats]
        result = await self._receipts(keys=keys, args=args, client=client)
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
        """One job's full record, or None if unknown (a job not picked up yet: what its stream entry says)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.job(job_id))
            pipe.hget(self.keys.queued_index(job_id), job_id)
            raw, ref = await pipe.execute()
        record = {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items() if k != b"job"}
        if b"job" in raw:
            record["job"] = job_json(raw[b"job"]).decode("utf-8", "replace")
        if ref is not None and "state" not in record:
            record.update(await self._queued_record(_entry_id(ref.decode())))
        return record or None

    async def _queued_record(self, entry_id: str) -> dict[str, str]:
        """The record of a job still waiting in its lane: state, enqueue time, and its fields from the entry."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in Lane:
                pipe.xrange(self.keys.lane(lane), entry_id, entry_id)
            found = [entries for entries in await pipe.execute() if entries]
        record = {"state": State.QUEUED.value, "at:queued": f"{int(entry_id.split('-')[0]) / 1000:.3f}"}
        if found:
            job = parse_job(found[0][0][1][b"job"])
            record.update(kind=job.kind.value, to=job.to, lane=str(int(job.lane)), unit=job.unit)
        return record

    async def states(self, job_ids: Sequence[str]) -> list[str | None]:
        """The state of each job (None: unknown), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(self.keys.job(job_id), "state")
                pipe.hexists(self.keys.queued_index(job_id), job_id)
            replies = await pipe.execute()
        states: list[str | None] = []
        for state, queued in zip(replies[::2], replies[1::2], strict=True):
            states.append(state.decode() if state else State.QUEUED.value if queued else None)
        return states

    # -- helpers -----------------------------------------------------------------------------------------------

    def _now(self) -> str:
        return f"{self._clock():.3f}"

    def _dead_fields(self, entry_id: str, job_id: str, payload: bytes, error: JobError) -> dict[str, Any]:
        return {
            "id": job_id,
            "entry": entry_id,
            "field": error.field,
            "reason": error.reason,
            "job": job_json(payload),
            "at": self._now(),
        }
