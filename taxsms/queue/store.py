"""The job store in Redis: intake stream and consumer group, job records, dead letters, receipts.

Every operation works on a batch and costs one round trip (a pipeline of one EVALSHA per shard touched),
whatever the batch size: the dispatcher's hot path never pays a round trip per message. Each script call
stays in one shard (one hash tag, so one cluster slot); see taxsms.queue.keys for the sharding.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, TypeVar

import msgspec
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from taxsms.queue.connect import uptime_s
from taxsms.queue.correlation import Found, IdConvention, Verdict, candidates, choose, normalise_message_id
from taxsms.queue.jobs import CHINA, Job, JobError, Lane, State, job_id_of, job_json, pack_job, parse_job
from taxsms.queue.keys import CONSUMER_GROUP, Keys
from taxsms.queue.states import lua_table

MESSAGE_ID_TTL_S = 3 * 24 * 3600  # receipts can take days (a phone switched off); keep the mapping 3 days
RECORD_TTL_S = 90 * 24 * 3600  # a submitted or final job's record (and its dedupe by id) is kept 90 days
RECENT_PER_PHONE = 30  # message ids kept per phone (Keys.phone_messages), for looking a phone up
RECEIPT_TIMEOUT_S = 48 * 3600  # a submitted job without a receipt this long (or past its expiry) is unconfirmed
#: The idle time a handed-back entry gets (ten years: no live entry is ever idle that long), so that reclaiming
#: entries idle this long takes handed-back ones only, at once, whatever claim_idle_s and Redis's uptime.
HANDED_BACK_IDLE_MS = 10 * 365 * 86400 * 1000


@dataclass(frozen=True, slots=True)
class StorageCaps:
    """Bounds on what hostile or broken input can make Redis keep (settings: dead_letter_maxlen, ...).

    dead_letter_maxlen: entries in each dead-letter stream (approximate MAXLEN, oldest dropped);
    dead_letter_payload_bytes: how much of a refused payload a dead letter keeps (its size is recorded);
    orphan_receipts_max: receipts for unknown messages kept per shard (oldest dropped, counted);
    orphan_ttl_s: how long such a receipt waits for its message.
    """

    dead_letter_maxlen: int = 100_000
    dead_letter_payload_bytes: int = 16_384
    orphan_receipts_max: int = 10_000
    orphan_ttl_s: int = MESSAGE_ID_TTL_S


ENQUEUE_CHUNK = 500
COUNTED_STATES = tuple(State)
#: Outcomes whose record (delayed, retried) or dead letter (a retry too many) keeps the job itself.
KEEPS_PAYLOAD = frozenset({State.DELAYED, "retry"})
T = TypeVar("T")


def load_script(name: str, *, common: bool = True) -> str:
    """The Lua source of taxsms/queue/lua/<name>.lua, with the shared helpers of common.lua prepended."""
    lua = resources.files("taxsms.queue") / "lua"
    source = (lua / f"{name}.lua").read_text(encoding="utf-8")
    if not common:
        return source
    return lua_table() + (lua / "common.lua").read_text(encoding="utf-8") + "\n" + source


ScriptCall = tuple[AsyncScript, Sequence[str], Sequence[Any]]


async def run_scripts(redis: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run (script, keys, args) calls in one pipeline (EVALSHA; a cluster client splits it per node).

    A node that does not know a script yet (new, restarted or just promoted) gets it loaded, and the calls
    it refused run again. Any other error is raised.
    """
    results: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for attempt in range(2):
        async with redis.pipeline(transaction=False) as pipe:
            for i in todo:
                script, keys, args = calls[i]
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        missing = []
        for i, reply in zip(todo, replies, strict=True):
            if isinstance(reply, NoScriptError) and attempt == 0:
                missing.append(i)
            elif isinstance(reply, Exception):
                raise reply
            else:
                results[i] = reply
        if not missing:
            break
        for script in {calls[i][0].sha: calls[i][0] for i in missing}.values():
            await redis.script_load(script.script)
        todo = missing
    return results


async def sum_hashes(redis: Any, keys: Keys, name: Callable[[Keys], str]) -> dict[str, int]:
    """Field -> sum over every shard of the counter hash `name(shard)` (counts, stats, usage...)."""
    async with redis.pipeline(transaction=False) as pipe:
        for shard in keys.every_shard():
            pipe.hgetall(name(shard))
        replies = await pipe.execute()
    totals: dict[str, int] = {}
    for raw in replies:
        for field_name, value in raw.items():
            text = field_name.decode() if isinstance(field_name, bytes) else field_name
            totals[text] = totals.get(text, 0) + int(value)
    return totals


async def state_counts(redis: Any, keys: Keys) -> dict[str, int]:
    """Number of jobs in each state over every shard (every state present, zero when none)."""
    return {state.value: 0 for state in COUNTED_STATES} | await sum_hashes(redis, keys, lambda shard: shard.counts)


async def job_shards(redis: Any, keys: Keys, job_ids: Sequence[str]) -> list[Keys | None]:
    """The shard holding each job id (None: no such job), looked up in the id index with several shards."""
    if keys.shards == 1:
        return [keys] * len(job_ids)
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.get(keys.home(job_id))
        homes = await pipe.execute()
    return [None if home is None else keys.shard(int(home)) for home in homes]


_NOGROUP = re.compile(r"""(?:^|of pipeline caused error: \(?['"]?)NOGROUP """)


def lost_groups(exc: BaseException) -> bool:
    """Whether `exc` says a job stream has no consumer group (Redis restarted without its data), also when a
    pipeline's command said it (redis-py puts the command first: 'Command # 1 (XAUTOCLAIM ...) of pipeline ...')."""
    return isinstance(exc, ResponseError) and _NOGROUP.search(str(exc)) is not None


def _entry_id(ref: str) -> str:
    """A stream entry id back from the queued index's integer form (see entry_ref in common.lua)."""
    if "-" in ref:
        return ref
    ms, seq = divmod(int(ref), 1024)
    return f"{ms}-{seq}"


class StreamEntry(msgspec.Struct, frozen=True):
    """One entry read from a job stream: the stream, its id, the job id if the entry names it (upstream pushes
    do; the lanes' entries carry it inside the job), and the job as stored (JSON, or packed in the lanes)."""

    stream: str
    entry_id: str
    job_id: str
    payload: bytes


class Settlement(msgspec.Struct, frozen=True):
    """The outcome of one job's attempt, to be recorded and acked (see settle.lua for the outcomes).

    message_ids: one per part for 'submitted'; release_at: when a 'delayed' job may go (epoch seconds);
    payload: the job JSON, kept with a delayed or retried job so it can be released into its lane again;
    expires_at: the job's expiry (0: none), the end of its validity for the receipt timeout.
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
    expires_at: float = 0.0


class ReceiptUpdate(msgspec.Struct, frozen=True):
    """A delivery receipt to apply to the message with `message_id` (as the receipt gives it; its hex/decimal
    counterparts are tried too, see taxsms.queue.correlation), from `phone` (11 digits, '' if not given).

    outcome: 'delivered', 'undelivered', or 'unknown' (a stat word that says neither: recorded as is).
    """

    message_id: str
    outcome: str
    stat: str
    error: str = ""
    phone: str = ""


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


def _last_month(month: str) -> str:
    """'YYYY-MM' of the month before `month`."""
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def _csv(items: Iterable[str]) -> str:
    return "," + ",".join(items) + ","


def _by_shard(items: Iterable[tuple[int, T]]) -> dict[int, list[T]]:
    groups: dict[int, list[T]] = {}
    for shard, item in items:
        groups.setdefault(shard, []).append(item)
    return groups


class JobStore:
    """Batch operations on the job keys of one prefix, over every shard of `keys`."""

    def __init__(
        self,
        redis: Any,
        keys: Keys,
        *,
        clock: Callable[[], float] = time.time,
        message_id_ttl: int = MESSAGE_ID_TTL_S,
        record_ttl: int = RECORD_TTL_S,
        rules: DispatchRules | None = None,
        receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
        caps: StorageCaps | None = None,
    ) -> None:
        """`redis`: a Redis or RedisCluster client (taxsms.queue.connect)."""
        self.redis = redis
        self.keys = keys
        self.rules = rules or DispatchRules()
        self._clock = clock
        self._ttl = message_id_ttl
        self._record_ttl = str(record_ttl) if record_ttl > 0 else ""  # '': kept for ever
        self._receipt_timeout = receipt_timeout_s
        self.caps = caps or StorageCaps()
        #: How the SMSC link writes receipt ids, learned as receipts come (one link per worker).
        self.id_convention = IdConvention()
        self._release = redis.register_script(load_script("release"))
        self._enqueue = redis.register_script(load_script("enqueue"))
        self._begin = redis.register_script(load_script("begin"))
        self._settle = redis.register_script(load_script("settle"))
        self._receipts = redis.register_script(load_script("receipts"))
        self._orphans = redis.register_script(load_script("orphans"))
        self._unconfirmed = redis.register_script(load_script("unconfirmed"))
        self._read = redis.register_script(load_script("read", common=False))
        self._hand_back = redis.register_script(load_script("handback", common=False))
        self._shards = list(self.keys.every_shard())
        self._shard_of_stream = {stream: shard.shard_index for shard in self._shards for stream in self._lanes(shard)}
        self._shard_of_stream[self.keys.intake] = 0
        #: Units whose monthly quota is used up, summed over every shard (refresh_quotas; begin.lua checks
        #: each shard's own usage exactly, this catches what the shards used together).
        self.exhausted_units: frozenset[str] = frozenset()

    # -- intake ------------------------------------------------------------------------------------------

    async def enqueue(self, jobs: Iterable[Job]) -> int:
        """Add validated jobs once each; return how many were new (the rest were duplicates).

        A job goes to its phone's shard; with several shards the id index (written first, SET NX) names
        the shard that holds the id, so a retried or repeated id lands where the first one did.
        """
        items = list(jobs)
        homes = await self._homes(items)
        calls: list[ScriptCall] = []
        for shard, group in _by_shard(zip(homes, items, strict=True)).items():
            for start in range(0, len(group), ENQUEUE_CHUNK):
                calls.append(self._enqueue_call(self._shards[shard], group[start : start + ENQUEUE_CHUNK]))
        return sum(int(added) for added in await run_scripts(self.redis, calls))

    async def enqueue_each(self, jobs: Sequence[Job]) -> list[bool]:
        """enqueue() telling which jobs were new: one script call per job, all in one pipeline (for a few
        hundred jobs whose outcome is reported one by one: `taxsms dead requeue`'s batches)."""
        homes = await self._homes(jobs)
        calls = [self._enqueue_call(self._shards[home], [job]) for home, job in zip(homes, jobs, strict=True)]
        return [bool(int(added)) for added in await run_scripts(self.redis, calls)]

    async def _homes(self, items: Sequence[Job]) -> list[int]:
        if self.keys.shards == 1:
            return [0] * len(items)
        async with self.redis.pipeline(transaction=False) as pipe:
            for job in items:
                pipe.set(self.keys.home(job.id), self.keys.for_phone(job.to).shard_index, nx=True)
                pipe.get(self.keys.home(job.id))
            replies = await pipe.execute()
        return [int(home) for home in replies[1::2]]

    def _enqueue_call(self, shard: Keys, chunk: Sequence[Job]) -> ScriptCall:
        keys = [shard.counts, shard.events, shard.stats, *(shard.lane(lane) for lane in Lane)]
        args: list[Any] = [self._now()]
        for job in chunk:
            keys += (shard.job(job.id), shard.queued_index(job.id))
            args += (job.id, int(job.lane), pack_job(job))
        return (self._enqueue, keys, args)

    async def dead_letter_raw(self, payload: bytes, error: JobError) -> None:
        """Record a job refused before it entered the stream (e.g. by `taxsms enqueue`), in shard 0."""
        async with self.redis.pipeline(transaction=False) as pipe:
            self._add_dead_letter(pipe, self.keys, "", job_id_of(payload), payload, error)
            pipe.hincrby(self.keys.counts, State.DEAD_LETTERED, 1)
            await pipe.execute()

    async def route(self, entries: Sequence[tuple[StreamEntry, Job]]) -> int:
        """Move valid raw jobs from the intake stream into their lanes (enqueue, then ack and delete); return how
        many.

        Enqueue dedupes by id, so a crash between the two steps enqueues nothing twice.
        """
        if not entries:
            return 0
        added = await self.enqueue(job for _, job in entries)
        ids = [entry.entry_id for entry, _ in entries]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(self.keys.intake, CONSUMER_GROUP, *ids)
            pipe.xdel(self.keys.intake, *ids)
            await pipe.execute()
        return added

    # -- the consumer group ------------------------------------------------------------------------------

    @staticmethod
    def _lanes(shard: Keys) -> list[str]:
        return [shard.lane(lane) for lane in Lane]

    @staticmethod
    def _delayed_sets(shard: Keys) -> list[str]:
        return [shard.delayed(lane) for lane in Lane]

    @property
    def streams(self) -> list[str]:
        """Every stream the dispatchers read: each shard's lanes, most urgent first, then raw upstream intake."""
        return [*(stream for shard in self._shards for stream in self._lanes(shard)), self.keys.intake]

    def reader_groups(self) -> list[tuple[list[str], list[str]]]:
        """Per shard, (reply streams, other streams): the streams one XREADGROUP may read together (one slot)."""
        groups = []
        for shard in self._shards:
            lanes = self._lanes(shard)
            groups.append((lanes[:1], lanes[1:] + ([self.keys.intake] if shard.shard_index == 0 else [])))
        return groups

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
        The streams must be of one shard (one reader group of reader_groups()).
        """
        try:
            reply = await self.redis.xreadgroup(
                CONSUMER_GROUP,
                consumer,
                dict.fromkeys(streams, "0" if pending else ">"),
                count=count,
                block=None if pending else block_ms,
            )
        except ResponseError as exc:
            if not str(exc).startswith("UNBLOCKED"):
                raise
            raise RedisConnectionError(f"a failover ended the blocking read: {exc}") from exc
        by_stream = {self._text(name): items for name, items in reply or ()}
        return [entry for stream in streams for entry in self.parse_entries(stream, by_stream.get(stream, ()))]

    async def read_new(self, consumer: str, streams: Sequence[str], count: int, block_ms: int) -> list[StreamEntry]:
        """Read up to `count` new entries in all from `streams` (most urgent first; of one shard), the lanes
        ahead taking what they hold first (one script call: read.lua); if none has any, block up to block_ms
        for the first to arrive in any of them (then at most count // len(streams) from each)."""
        (reply,) = await run_scripts(self.redis, [(self._read, streams, [CONSUMER_GROUP, consumer, count])])
        if not reply:
            return await self.read(consumer, streams, max(1, count // len(streams)), block_ms)
        entries = []
        for name, items in reply:
            stream = self._text(name)
            entries += self.parse_entries(stream, [(i, dict(zip(f[::2], f[1::2], strict=True))) for i, f in items])
        return entries

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

    async def heartbeat(self, consumer: str, entries: Iterable[tuple[str, str]]) -> None:
        """Reset the idle time of the (stream, entry id)s `consumer` is working on, so no live entry is reclaimed."""
        by_stream: dict[str, list[str]] = {}
        for stream, entry_id in entries:
            by_stream.setdefault(stream, []).append(entry_id)
        if not by_stream:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, ids in by_stream.items():
                pipe.xclaim(stream, CONSUMER_GROUP, consumer, 0, ids, justid=True)
            await pipe.execute()

    async def uptime_s(self) -> int:
        """Seconds since Redis started (on a cluster, its youngest master): idle times count only since then."""
        return await uptime_s(self.redis)

    async def reclaim(self, consumer: str, idle_ms: int, limit: int) -> tuple[list[StreamEntry], bool]:
        """Take over up to `limit` entries idle for `idle_ms` or more (a dead consumer's, or handed back: idle
        HANDED_BACK_IDLE_MS) from every stream.

        Each stream's XAUTOCLAIM cursor is followed until nothing idle is left or `limit` is reached, one
        pipelined round trip per step for all streams. Returns (the entries, whether idle ones were left).
        """
        cursors = dict.fromkeys(self.streams, "0-0")
        taken: list[StreamEntry] = []
        while cursors and len(taken) < limit:
            left = limit - len(taken)
            streams = list(cursors)[:left]  # never more than `limit` in all, one at least from each stream asked
            count = max(1, left // len(streams))
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream in streams:
                    pipe.xautoclaim(stream, CONSUMER_GROUP, consumer, idle_ms, start_id=cursors[stream], count=count)
                replies = await pipe.execute()
            for stream, (cursor, claimed, *_) in zip(streams, replies, strict=True):
                taken += self.parse_entries(stream, claimed)
                if self._text(cursor) == "0-0":
                    del cursors[stream]
                else:
                    cursors[stream] = self._text(cursor)
        return taken, bool(cursors)

    async def hand_back(self, consumer: str, entries: Sequence[StreamEntry]) -> int:
        """Make `consumer`'s pending lane `entries` reclaimable by any worker at once (handback.lua: idle
        HANDED_BACK_IDLE_MS, this delivery not counted); returns how many were still its own."""
        calls: list[ScriptCall] = []
        for shard_index, group in _by_shard((self._shard_of_stream[e.stream], e) for e in entries).items():
            lanes = self._lanes(self._shards[shard_index])
            args: list[Any] = [CONSUMER_GROUP, consumer, HANDED_BACK_IDLE_MS]
            for entry in group:
                args += (lanes.index(entry.stream) + 2, entry.entry_id)
            calls.append((self._hand_back, [self._shards[shard_index].stats, *lanes], args))
        return sum(await run_scripts(self.redis, calls)) if calls else 0

    async def handed_back(self) -> int:
        """How many entries have been handed back so far, over every shard (a taker looks for more when it grows)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self._shards:
                pipe.hget(shard.stats, "handed_back")
            replies = await pipe.execute()
        return sum(int(reply or 0) for reply in replies)

    async def deliveries(self, entries: Sequence[StreamEntry]) -> list[int]:
        """How many times each pending entry has been delivered to a consumer (0: no longer pending)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.xpending_range(entry.stream, CONSUMER_GROUP, entry.entry_id, entry.entry_id, 1)
            replies = await pipe.execute()
        return [int(reply[0]["times_delivered"]) if reply else 0 for reply in replies]

    async def _due(self, sets: Sequence[tuple[Keys, str, int]], limit: int) -> list[list[tuple[str, int, float]]]:
        """Per (shard, sorted set, tag) the members due now, as (id, tag, score): one round trip for all."""
        now = self._clock()
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, name, _ in sets:
                pipe.zrangebyscore(name, "-inf", now, start=0, num=limit, withscores=True)
            replies = await pipe.execute()
        return [
            [(self._text(member), tag, float(score)) for member, score in due]
            for (_, _, tag), due in zip(sets, replies, strict=True)
        ]

    async def release_due(self, limit: int = 1000) -> int:
        """Move delayed jobs whose release time has come back into their lanes; return how many."""
        sets = [(shard, shard.delayed(lane), int(lane)) for shard in self._shards for lane in Lane]
        due: dict[int, list[tuple[str, int, float]]] = {}
        for (shard, _, _), members in zip(sets, await self._due(sets, limit), strict=True):
            due.setdefault(shard.shard_index, []).extend(members)
        calls: list[ScriptCall] = []
        for shard_index, members in due.items():
            if not members:
                continue
            shard = self._shards[shard_index]
            keys = [shard.counts, shard.events, shard.stats, *self._delayed_sets(shard), *self._lanes(shard)]
            args: list[Any] = [self._now()]
            for job_id, lane, _ in members:
                keys.append(shard.job(job_id))
                args += (job_id, lane)
            calls.append((self._release, keys, args))
        return sum(int(n) for n in await run_scripts(self.redis, calls))

    async def end_unconfirmed(self, limit: int = 1000) -> int:
        """End submitted jobs whose receipt did not come by their deadline (state unconfirmed); return how many."""
        sets = [(shard, shard.receipt_deadlines, 0) for shard in self._shards]
        calls: list[ScriptCall] = []
        for shard, members in zip(self._shards, await self._due(sets, limit), strict=True):
            if not members:
                continue
            keys = [shard.counts, shard.events, shard.stats, shard.receipt_deadlines]
            args: list[Any] = [self._now(), self._record_ttl]
            for job_id, _, deadline in members:
                keys.append(shard.job(job_id))
                args += (job_id, f"no delivery receipt by {datetime.fromtimestamp(deadline, CHINA):%Y-%m-%d %H:%M:%S}")
            calls.append((self._unconfirmed, keys, args))
        return sum(int(n) for n in await run_scripts(self.redis, calls))

    async def refresh_quotas(self) -> None:
        """Find the units whose quota this month's usage and held segments over every shard reached (only with
        several shards)."""
        if self.keys.shards == 1:
            return
        month = f"{datetime.fromtimestamp(self._clock(), CHINA):%Y-%m}"
        used = {
            name.removesuffix("|*"): n
            for name, n in (await sum_hashes(self.redis, self.keys, lambda shard: shard.usage(month))).items()
            if name.endswith("|*")
        }
        for unit, n in (await sum_hashes(self.redis, self.keys, lambda shard: shard.quota_held(month))).items():
            used[unit] = used.get(unit, 0) + n
        async with self.redis.pipeline(transaction=False) as pipe:
            for unit in used:
                pipe.get(self.keys.quota(unit))
            quotas = await pipe.execute()
        self.exhausted_units = frozenset(
            unit for (unit, n), quota in zip(used.items(), quotas, strict=True) if quota is not None and n >= int(quota)
        )

    # -- the dispatch ledger -----------------------------------------------------------------------------

    def shard_of(self, stream: str) -> Keys:
        """The shard a job stream belongs to."""
        return self._shards[self._shard_of_stream[stream]]

    async def begin(
        self, jobs: Sequence[tuple[StreamEntry, Job]], segments: Mapping[str, int] | None = None
    ) -> list[bool]:
        """Claim (entry, job) pairs for submission; False for jobs skipped or suppressed (recorded and acked).

        The entries must come from lane streams (raw intake entries are route()d first). `segments`: job id ->
        its parts, for jobs of quota kinds (1 when not given): a claimed job holds them against its unit's
        quota until it is settled (begin.lua).
        """
        if not jobs:
            return []
        rules, moment = self.rules, datetime.fromtimestamp(self._clock(), CHINA)
        month, parts = f"{moment:%Y-%m}", segments or {}
        caps = _csv(f"{kind}={n}" for kind, n in rules.daily_caps.items())
        groups = _by_shard((self._shard_of_stream[e.stream], (i, e, job)) for i, (e, job) in enumerate(jobs))
        calls: list[ScriptCall] = []
        for shard_index, group in groups.items():
            shard = self._shards[shard_index]
            keys = [
                shard.counts, shard.events, shard.stats, shard.subscription_state, shard.usage(month),
                shard.quota_held(month),
            ]  # fmt: skip
            day, unused = f"{moment:%Y%m%d}", shard.counts  # a key of the slot for checks that do not apply
            args: list[Any] = [
                self._now(), CONSUMER_GROUP, _csv(rules.subscription_kinds), rules.unknown_subscription, caps,
                _csv(rules.quota_kinds), _csv(self.exhausted_units), self._record_ttl, RECENT_PER_PHONE, month,
            ]  # fmt: skip
            for _, entry, job in group:
                kind, to, unit = job.kind.value, job.to, job.unit
                tp, filing = job.taxpayer_id, self._filing(job) if job.taxpayer_id else ""
                keys += (
                    shard.job(job.id),
                    shard.queued_index(job.id),
                    shard.recipient_cap(kind, to, day) if kind in rules.daily_caps else unused,
                    shard.quota(unit) if unit and kind in rules.quota_kinds else unused,
                    shard.filed(filing) if filing else unused,
                    self.keys.consent(to) if tp and kind in rules.subscription_kinds else unused,
                    shard.phone_messages(to),
                )
                args += (job.id, entry.stream, entry.entry_id, kind, to, unit, tp, "1" if filing else "")
                args.append(parts.get(job.id, 1))
            calls.append((self._begin, keys, args))
        flags = [False] * len(jobs)
        for group, result in zip(groups.values(), await run_scripts(self.redis, calls), strict=True):
            for (i, _, _), flag in zip(group, result, strict=True):
                flags[i] = bool(flag)
        return flags

    @staticmethod
    def _filing(job: Job) -> str:
        filing = job.meta.get("filing", "")
        return filing if isinstance(filing, str) else ""

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        """Record outcomes, then ack their entries, atomically per shard (one script call per shard)."""
        if not settlements:
            return
        rules, now = self.rules, self._clock()
        month, later = f"{datetime.fromtimestamp(now, CHINA):%Y-%m}", now + self._receipt_timeout
        last_month = _last_month(month)
        calls: list[ScriptCall] = []
        for shard_index, group in _by_shard((self._shard_of_stream[s.stream], s) for s in settlements).items():
            shard = self._shards[shard_index]
            keys = [
                shard.counts, shard.events, shard.stats, shard.dead_letters, shard.usage(month),
                shard.receipt_deadlines, shard.orphan_receipts, shard.orphan_index, *self._delayed_sets(shard),
                shard.quota_held(month), shard.quota_held(last_month),
            ]  # fmt: skip
            args: list[Any] = [
                self._now(), CONSUMER_GROUP, self._ttl, rules.retry_base_s, rules.retry_max_s, rules.max_retries,
                self._record_ttl, self.caps.dead_letter_maxlen, self.caps.dead_letter_payload_bytes, month,
                last_month,
            ]  # fmt: skip
            for s in group:
                keys += (shard.job(s.job_id), shard.queued_index(s.job_id), *map(shard.message, s.message_ids))
                if s.outcome == State.SUBMITTED:  # unconfirmed without a receipt by receipt_timeout_s, or its expiry
                    expires = s.expires_at
                    # whole seconds, rounded up: a small sorted set keeps integer scores as integers, and an
                    # insert into one with fractional scores parses every member's score (about 3x the cost)
                    deadline, payload = str(math.ceil(min(later, expires) if now < expires else later)), b""
                else:  # the job itself goes only where it is kept
                    deadline, payload = "0", s.payload if s.outcome in KEEPS_PAYLOAD else b""
                release = f"{s.release_at:.3f}" if s.release_at else "0"
                args += (s.job_id, s.stream, s.entry_id, s.outcome, s.detail, s.smpp_status, release)
                args += (s.lane, payload, deadline, len(s.message_ids))
                for message_id in s.message_ids:
                    args += (message_id, " ".join(candidates(message_id)))
            calls.append((self._settle, keys, args))
        await run_scripts(self.redis, calls)

    async def dead_letter(self, entries: Sequence[tuple[StreamEntry, JobError]]) -> None:
        """Move invalid entries to their shard's dead-letter stream with their reason, record and ack them."""
        if not entries:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry, error in entries:
                shard = self.shard_of(entry.stream)
                self._add_dead_letter(pipe, shard, entry.entry_id, entry.job_id, entry.payload, error)
            await pipe.execute()
        await self.settle(
            [
                Settlement(e.job_id, e.stream, e.entry_id, State.DEAD_LETTERED, f"{err.field}: {err.reason}")
                for e, err in entries
            ]
        )

    async def apply_receipts(self, receipts: Sequence[ReceiptUpdate]) -> int:
        """Apply delivery receipts to their messages' jobs; return how many were kept as orphans.

        Each receipt's id is looked up as given and as its hex/decimal counterpart, in every shard (one
        pipeline of GETs), and taxsms.queue.correlation.choose decides which message it is about (or none).
        Matched receipts are applied (one script call per shard; it checks the mapping is unchanged). Those
        no message was found for are kept as orphans in every shard (settle.lua applies one when its id shows
        up), atomically unless one of their ids appeared meanwhile: then they are matched again, so a settle
        racing with the receipt cannot lose it.
        """
        todo = list(receipts)
        orphans = 0
        for _ in range(3):
            if not todo:
                break
            unknown = await self._match_and_apply(todo)
            again = await self._keep_orphans(unknown)
            orphans += len(unknown) - len(again)
            todo = [r for r, _ in unknown if r.message_id in again]
        return orphans

    async def _match_and_apply(self, receipts: Sequence[ReceiptUpdate]) -> list[tuple[ReceiptUpdate, list[str]]]:
        """Apply the receipts whose message is found; return the others, each with the candidate message ids
        that were not found (the receipt's message may be one of those, its submit not recorded yet)."""
        forms = [candidates(r.message_id) for r in receipts]
        looked_up = [message_id for found in forms for message_id in found]
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self._shards:  # one MGET per shard (one slot each; redis-py's cluster pipeline refuses
                pipe.execute_command("MGET", *(shard.message(message_id) for message_id in looked_up))  # .mget())
            per_shard = [iter(values) for values in await pipe.execute()]
        unknown: list[tuple[ReceiptUpdate, list[str]]] = []
        matched: dict[int, list[tuple[ReceiptUpdate, Found]]] = {}
        for receipt, found in zip(receipts, forms, strict=True):
            hits: list[tuple[int, Found]] = []
            for message_id, form in found.items():
                for shard, values in zip(self._shards, per_shard, strict=True):
                    value = next(values)
                    if value is not None:
                        text = self._text(value)
                        parts = text.split(" ")
                        phone = parts[2] if len(parts) > 2 else ""
                        hits.append((shard.shard_index, Found(message_id, form, text, phone)))
            verdict, chosen = choose(found, [f for _, f in hits], receipt.phone, self.id_convention)
            if verdict is Verdict.AMBIGUOUS:
                await self.redis.hincrby(self.keys.stats, "ambiguous_receipts", 1)
            elif chosen is None:  # unknown, or found only as someone else's message: wait for its own
                seen = {f.message_id for _, f in hits}
                unknown.append((receipt, [m for m in found if m not in seen]))
            else:
                shard_index = next(i for i, f in hits if f is chosen)
                matched.setdefault(shard_index, []).append((receipt, chosen))
        calls: list[ScriptCall] = []
        for shard_index, group in matched.items():
            shard = self._shards[shard_index]
            keys = [shard.counts, shard.events, shard.stats, shard.receipt_deadlines]
            args: list[Any] = [self._now(), self._record_ttl]
            for receipt, found in group:
                job_id, part = found.value.split(" ")[:2]
                keys += (shard.message(found.message_id), shard.job(job_id))
                args += (found.value, job_id, part, receipt.outcome, *self._receipt_words(receipt))
            calls.append((self._receipts, keys, args))
        await run_scripts(self.redis, calls)
        return unknown

    async def _keep_orphans(self, receipts: Sequence[tuple[ReceiptUpdate, list[str]]]) -> set[str]:
        """Keep receipts as orphans in every shard, unless one of the message ids given with each appeared
        meanwhile; return the ids of those to match again."""
        if not receipts:
            return set()
        caps, single = self.caps, self.keys.shards == 1
        calls: list[ScriptCall] = []
        for shard in self._shards:
            keys = [shard.counts, shard.events, shard.stats, shard.orphan_receipts, shard.orphan_index]
            args: list[Any] = [self._now(), caps.orphan_ttl_s, caps.orphan_receipts_max, int(single)]
            for r, missing in receipts:
                keys += map(shard.message, missing)
                stat, error = self._receipt_words(r)
                args += (normalise_message_id(r.message_id), f"{r.outcome} {stat} {error} {r.phone}", len(missing))
            calls.append((self._orphans, keys, args))
        again = {self._text(i) for ids in await run_scripts(self.redis, calls) for i in ids}
        normalised = {normalise_message_id(r.message_id): r.message_id for r, _ in receipts}
        again = {normalised[i] for i in again if i in normalised}
        if not single and len(receipts) > len(again):
            await self.redis.hincrby(self.keys.stats, "unknown_receipts", len(receipts) - len(again))
        return again

    @staticmethod
    def _receipt_words(receipt: ReceiptUpdate) -> tuple[str, str]:
        """A receipt's stat and error as single words of sane length (they come from the SMSC, or an attacker)."""
        stat = receipt.stat.replace(" ", "_")[:32] or "-"
        return stat, receipt.error.replace(" ", "_")[:32]

    # -- reading state -------------------------------------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        """Number of jobs in each state over every shard (every state present, zero when none)."""
        return await state_counts(self.redis, self.keys)

    async def stats(self) -> dict[str, int]:
        return await sum_hashes(self.redis, self.keys, lambda shard: shard.stats)

    async def job(self, job_id: str) -> dict[str, str] | None:
        """One job's full record, or None if unknown (a job not picked up yet: what its stream entry says)."""
        (shard,) = await job_shards(self.redis, self.keys, [job_id])
        if shard is None:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(shard.job(job_id))
            pipe.hget(shard.queued_index(job_id), job_id)
            raw, ref = await pipe.execute()
        record = {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items() if k != b"job"}
        if b"job" in raw:
            record["job"] = job_json(raw[b"job"]).decode("utf-8", "replace")
        if ref is not None and "state" not in record:
            record.update(await self._queued_record(shard, _entry_id(ref.decode())))
        return record or None

    async def recent_to(self, phone: str) -> list[dict[str, str]]:
        """The records of the newest messages to `phone` (begin.lua's Keys.phone_messages of every shard; at
        most RECENT_PER_PHONE a shard), each with its `id`, newest first; two round trips."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard in self._shards:
                pipe.lrange(shard.phone_messages(phone), 0, RECENT_PER_PHONE - 1)
            lists = await pipe.execute()
        ids = [(shard, job_id.decode()) for shard, found in zip(self._shards, lists, strict=True) for job_id in found]
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for shard, job_id in ids:
                pipe.hgetall(shard.job(job_id))
            raws = await pipe.execute()
        records = []
        for (_, job_id), raw in zip(ids, raws, strict=True):
            if raw:  # a record that expired before the list did is left out
                record = {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items() if k != b"job"}
                records.append({"id": job_id, **record})
        return sorted(records, key=lambda r: -float(r.get("submitting_at") or r.get("done_at") or 0))

    async def _queued_record(self, shard: Keys, entry_id: str) -> dict[str, str]:
        """The record of a job still waiting in its lane: state, enqueue time, and its fields from the entry."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for lane in Lane:
                pipe.xrange(shard.lane(lane), entry_id, entry_id)
            found = [entries for entries in await pipe.execute() if entries]
        record = {"state": State.QUEUED.value, "at:queued": f"{int(entry_id.split('-')[0]) / 1000:.3f}"}
        if found:
            job = parse_job(found[0][0][1][b"job"])
            record.update(kind=job.kind.value, to=job.to, lane=str(int(job.lane)), unit=job.unit)
        return record

    async def states(self, job_ids: Sequence[str]) -> list[str | None]:
        """The state of each job (None: unknown), in one round trip (two with several shards)."""
        shards = await job_shards(self.redis, self.keys, job_ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id, shard in zip(job_ids, shards, strict=True):
                if shard is not None:
                    pipe.hget(shard.job(job_id), "state")
                    pipe.hexists(shard.queued_index(job_id), job_id)
            replies = iter(await pipe.execute())
        states: list[str | None] = []
        for shard in shards:
            state, queued = (next(replies), next(replies)) if shard is not None else (None, False)
            states.append(state.decode() if state else State.QUEUED.value if queued else None)
        return states

    # -- helpers -----------------------------------------------------------------------------------------------

    def _now(self) -> str:
        return f"{self._clock():.3f}"

    def _add_dead_letter(
        self, pipe: Any, shard: Keys, entry_id: str, job_id: str, payload: bytes, error: JobError
    ) -> None:
        """Queue on `pipe` the dead letter of a refused payload: capped (its size kept in job_bytes), in a
        stream trimmed to about dead_letter_maxlen; a cut payload is counted (stats dead_letters_truncated)."""
        caps = self.caps
        kept = payload[: caps.dead_letter_payload_bytes]
        fields = {
            "id": job_id[:200],
            "entry": entry_id,
            "field": error.field,
            "reason": error.reason[:1000],
            "job": job_json(kept) if len(kept) == len(payload) else kept,
            "job_bytes": len(payload),
            "at": self._now(),
        }
        pipe.xadd(shard.dead_letters, fields, maxlen=caps.dead_letter_maxlen, approximate=True)
        if len(kept) < len(payload):
            pipe.hincrby(shard.stats, "dead_letters_truncated", 1)
