"""The dispatcher's loop: read jobs from the lane streams, hold them to their rules, submit them over SMPP.

Reading top to bottom: readers take batches from the lane streams (replies on a reader of their own) →
admission validates (dead-letter the bad), expires the stale, delays what is outside its send window or
before its not_before, and claims the rest in Redis (skipping what an earlier attempt settled, suppressing
what the rules forbid) → the sender takes the most urgent claimed job, checks its window again, waits for
the shared rate limit, and submits every part → once all parts are answered the outcome is recorded and the
entry acked (one script call per batch of outcomes). Delayed jobs are released into their lanes when due.
Entries left pending by a dead worker are reclaimed with XAUTOCLAIM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from taxsms import commalist
from taxsms.channels.events import MO_MAX_PENDING, MO_MAX_PENDING_BYTES
from taxsms.channels.pool import SmppPool
from taxsms.channels.session import SessionConfig, SubmitResult
from taxsms.channels.smpp import TRANSIENT_FAILURE_STATUSES, EncodedMessage, submit_sm_frame
from taxsms.channels.submits import BIND_REFUSED_RETRY_MAX_S, BIND_REFUSED_RETRY_MIN_S
from taxsms.dispatcher.admission import Admission, Held, Raw, Ready, Refused, settlement
from taxsms.dispatcher.batcher import BatchWriter
from taxsms.dispatcher.heartbeat import report_worker_health
from taxsms.dispatcher.lanes import LaneBuffer, Room
from taxsms.dispatcher.ratelimit import RateLimiter
from taxsms.dispatcher.receipts import DeliverySink
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.governance.admission import Gate
from taxsms.holidays import PACKAGE, Calendar
from taxsms.queue.connect import RETRYABLE, AnyRedis, connect, keys_for, uptime_s
from taxsms.queue.correlation import normalise_message_id
from taxsms.queue.jobs import CHINA, Job, JobError, Lane, State
from taxsms.queue.store import DispatchRules, JobStore, Settlement, StorageCaps, StreamEntry, lost_groups
from taxsms.retry import Backoff, retry
from taxsms.templates.catalog import TemplateCatalog, TemplateError

log = logging.getLogger(__name__)
LATENCY_SAMPLES = 200_000
HEARTBEAT_S = 5.0  # how often the worker reports its binds and reloads the template catalog
# Grants go at 99 % of --tps: a write a few ms late (a loaded CPU) after one on time still leaves every sliding
# second at the SMSC within T + 1 % (at T = 10, 10 ms of lateness; at 1,000, 15 segments).
PACE = 0.99
STALE_GRANT_S = 0.005  # a grant held longer than this for want of window room is given up (Worker._paced)
T = TypeVar("T")


@dataclass(slots=True)
class WorkerConfig:
    """Everything one worker process needs (see taxsms.settings for where the values come from)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "taxsms"
    smsc_host: str = "127.0.0.1"
    smsc_port: int = 2775
    system_id: str = "taxsms"
    password: str = ""
    window: int = 64
    binds: int = 1
    batch: int = 256
    block_ms: int = 200
    source_addr: str = "12366"
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    bind_refused_retry_min: float = BIND_REFUSED_RETRY_MIN_S  # a bind refused for its credentials, doubling ...
    bind_refused_retry_max: float = BIND_REFUSED_RETRY_MAX_S  # ... to this: retrying at once may lock the account
    mo_max_pending: int = MO_MAX_PENDING  # incomplete concatenated MO messages kept per bind (oldest given up)
    mo_max_pending_bytes: int = MO_MAX_PENDING_BYTES  # and the octets their parts may hold
    claim_idle_s: float = 60.0  # a pending entry idle this long belongs to a dead worker
    message_id_ttl: int = 3 * 24 * 3600
    record_ttl_days: float = 90.0  # how long a submitted or final job's record is kept (0: for ever)
    receipt_timeout_s: float = 48 * 3600.0  # a submitted job with no receipt this long (or past expiry): unconfirmed
    dead_letter_maxlen: int = 100_000  # entries kept in each dead-letter stream (approximately)
    dead_letter_payload_bytes: int = 16_384  # how much of a refused payload a dead letter keeps
    orphan_receipts_max: int = 10_000  # receipts for messages not (yet) known, kept per shard
    # flow control
    tps: float = 0.0  # segments per second on this SMSC link, shared by every worker using it (0: no limit)
    link: str = ""  # name of the SMSC link the tps belongs to (default host:port:system_id)
    send_window: str = "08:00-18:00"  # China time, for every staff-published kind
    days_off: bool = False  # also skip weekends and public holidays (China's holiday calendar)
    kind_windows: str = ""  # per-kind overrides, e.g. "internal=07:30-20:00"
    calendar_file: str = ""  # holidays and filing deadlines the package lacks (taxsms.holidays)
    subscription_kinds: str = "filing_reminder"  # kinds an unsubscribe suppresses
    unknown_subscription: str = "suppress"  # phones with no subscription record: "send" or "suppress"
    daily_caps: str = "filing_reminder=3"  # most messages of a kind to one phone per day
    quota_kinds: str = "notice,internal"  # kinds stopped when the unit's monthly quota is used up
    max_retries: int = 5  # transient SMSC errors, then dead letter
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    release_interval_s: float = 0.2  # how often delayed jobs are checked for release
    max_deliveries: int = 5  # an entry read this often without an outcome is dead-lettered on sight
    buffer: int = 0  # entries one worker holds at most, read to in flight (0: batch or 2 windows, + 2 windows)
    reply_share: float = 0.25  # of the buffer, kept for replies
    stop_timeout_s: float = 4.0  # after stop() (SIGTERM), the worker is gone within this, whatever Redis does

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            host=self.smsc_host,
            port=self.smsc_port,
            system_id=self.system_id,
            password=self.password,
            window=self.window,
            response_timeout=self.response_timeout,
            enquire_link_interval=self.enquire_link_interval,
            bind_refused_retry_min=self.bind_refused_retry_min,
            bind_refused_retry_max=self.bind_refused_retry_max,
            mo_max_pending=self.mo_max_pending,
            mo_max_pending_bytes=self.mo_max_pending_bytes,
        )

    def rules(self) -> DispatchRules:
        return DispatchRules(
            subscription_kinds=commalist.names(self.subscription_kinds),
            unknown_subscription=self.unknown_subscription,
            daily_caps=commalist.pairs(self.daily_caps),
            quota_kinds=commalist.names(self.quota_kinds),
            retry_base_s=self.retry_base_s,
            retry_max_s=self.retry_max_s,
            max_retries=self.max_retries,
        )

    def windows(self) -> WindowPolicy:
        calendar = Calendar.load(self.calendar_file) if self.calendar_file else PACKAGE
        return WindowPolicy.build(
            self.send_window, days_off=self.days_off, overrides=self.kind_windows, calendar=calendar
        )

    @property
    def link_name(self) -> str:
        return self.link or f"{self.smsc_host}:{self.smsc_port}:{self.system_id}"


@dataclass(slots=True)
class WorkerStats:
    """What this worker process did (its own share; Redis holds the totals)."""

    read: int = 0
    submitted: int = 0
    failed: int = 0
    retried: int = 0
    delayed: int = 0
    expired: int = 0
    dead_lettered: int = 0
    skipped: int = 0  # already handled by an earlier attempt, or suppressed by the rules
    segments: int = 0
    reclaimed: int = 0
    released: int = 0
    redis_errors: int = 0  # failed Redis calls, each retried
    unconfirmed: int = 0  # submitted jobs this worker ended for want of a receipt
    latencies: list[float] = field(default_factory=list)  # seconds, first part sent -> last part answered
    observe_latency: Callable[[float], None] | None = None  # the metrics exporter's histogram, when it runs

    def record_latency(self, seconds: float) -> None:
        if len(self.latencies) < LATENCY_SAMPLES:
            self.latencies.append(seconds)
        if self.observe_latency is not None:
            self.observe_latency(seconds)


@dataclass(slots=True, eq=False)
class Claimed:
    """A job claimed for submission, encoded once, waiting in the lane buffer."""

    entry: StreamEntry
    job: Job
    message: EncodedMessage

    @property
    def lane(self) -> int:
        return self.job.lane

    @property
    def segments(self) -> int:
        return len(self.message.parts)

    @property
    def key(self) -> tuple[str, str]:
        return (self.entry.stream, self.entry.entry_id)


class _InFlight:
    """One job whose parts are out at the SMSC; settles itself when the last part is answered."""

    __slots__ = ("abandoned", "claimed", "remaining", "results", "worker")

    def __init__(self, worker: Worker, claimed: Claimed) -> None:
        self.worker = worker
        self.claimed = claimed
        self.remaining = claimed.segments
        self.results: list[SubmitResult | None] = [None] * claimed.segments
        self.abandoned = False

    def part_done(self, index: int, future: asyncio.Future[SubmitResult]) -> None:
        if self.abandoned:
            return
        if future.cancelled():  # the channel was closed under us: give the entry up, reclaim sends it again
            self.abandoned = True
            self.worker._release_slot(self.claimed.key)
            return
        self.results[index] = future.result()
        self.remaining -= 1
        if self.remaining == 0:
            self.worker._settle_submitted(self)


class Worker:
    """One dispatcher process: a consumer in the group, with its own SMPP binds."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        redis: AnyRedis | None = None,
        clock: Callable[[], float] = time.time,
        rate_clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock` is business time (windows, expiry, records); `rate_clock` the rate limiter's (None: Redis)."""
        self.config = config
        self.stats = WorkerStats()
        self._clock = clock
        self._redis = redis or connect(config.redis_url, socket_keepalive=True)
        self.keys = keys_for(self._redis, config.prefix)
        self.store = JobStore(
            self._redis,
            self.keys,
            clock=clock,
            message_id_ttl=config.message_id_ttl,
            record_ttl=int(config.record_ttl_days * 86400),
            rules=config.rules(),
            receipt_timeout_s=config.receipt_timeout_s,
            caps=StorageCaps(
                dead_letter_maxlen=config.dead_letter_maxlen,
                dead_letter_payload_bytes=config.dead_letter_payload_bytes,
                orphan_receipts_max=config.orphan_receipts_max,
                orphan_ttl_s=config.message_id_ttl,
            ),
        )
        windows = config.windows()
        windows.check_calendar(clock())  # days off in a year without holiday data: refuse to start
        if warning := windows.calendar_warning(clock()):
            log.error(warning)
        self.catalog = TemplateCatalog.from_dir()  # until the reviewed catalog is read from Redis
        self.gate = Gate(self._redis, self.keys, max_age=HEARTBEAT_S)  # the admission policy, applied again
        self.admission = Admission(lambda: self.catalog, windows, self.keys.intake, self.gate)
        self.limiter = (
            RateLimiter(self._redis, self.keys.rate(config.link_name), config.tps * PACE, clock=rate_clock)
            if config.tps > 0
            else None
        )
        self._buffer: LaneBuffer[Claimed] = LaneBuffer(len(Lane))
        in_flight = 2 * config.window * config.binds  # at the SMSC, or answered and being recorded (_slots)
        capacity = config.buffer or max(config.batch, in_flight) + in_flight
        self.room = Room(capacity, reserved=int(capacity * config.reply_share))
        self._in_progress: dict[tuple[str, str], bool] = {}  # (stream, entry id) -> in the room's reply share?
        self._stopping = asyncio.Event()
        self._redis_failed_at = -math.inf  # time.monotonic() of the last failed Redis call
        self.pool: SmppPool | None = None
        self.sink: DeliverySink | None = None
        self._settlements: BatchWriter[Settlement] | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the groups, bind to the SMSC and start the background writers."""
        cfg = self.config
        await self._with_redis(self.store.ensure_group)
        await self._with_redis(self.store.refresh_quotas)
        await self._reload_catalog()
        self.sink = DeliverySink(self.store)
        self.sink.start()
        self._settlements = BatchWriter(self.store.settle, name="settle")
        self._settlements.start()
        # Jobs handed to the SMSC whose outcome is not recorded yet: a window per bind at the SMSC and at most as
        # many answered and being recorded (so recording never stalls the window). They are all that a kill -9
        # can duplicate: a survivor resends them, answered ones included until their record is written. One
        # window alone would halve that bound but stall each window for a record round trip (-14 % at 20 ms).
        self._slots = asyncio.Semaphore(2 * cfg.window * cfg.binds)
        self.pool = SmppPool(cfg.session_config(), self.sink, binds=cfg.binds)
        self.pool.start()

    async def run(self) -> None:
        """Dispatch until stop() is called; then finish what fits in stop_timeout_s and shut down.

        Whatever Redis or the SMSC are doing, the worker is gone within stop_timeout_s of stop() (SIGTERM):
        what it could not send or record stays pending in Redis, for a survivor to reclaim.
        """
        try:
            if self.pool is None:
                await self.start()
        except Stopping:
            log.warning("stopped while starting (Redis unreachable)")
            await self._shutdown(time.monotonic() + self.config.stop_timeout_s)
            return
        groups = self.store.reader_groups()
        background = [
            asyncio.create_task(self._reclaim_loop(), name="reclaim"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._release_loop(), name="release"),
        ]
        sender = asyncio.create_task(self._send_loop(), name="send")
        readers: list[asyncio.Task[None]] = []
        deadline = math.inf
        try:
            for replies, others in groups:  # our own leftovers
                leftovers = await self._read(replies + others, self.config.batch, pending=True)
                self.room.add(await self._admit(leftovers, redelivered=True))
            readers = [
                asyncio.create_task(self._read_loop(streams, replies=is_reply), name=f"read-{streams[0]}")
                for replies, others in groups
                for streams, is_reply in ((replies, True), (others, False))
            ]
            await self._until_stopped_or_dead([sender, *readers, *background])
        except Stopping:
            pass
        finally:
            deadline = time.monotonic() + self.config.stop_timeout_s
            self.room.close()
            # Readers return within block_ms; what they admitted is still sent before the buffer closes.
            if readers:
                _, late = await asyncio.wait(readers, timeout=_left(deadline, reserve=0.5))
                for task in late:
                    task.cancel()
            self._buffer.close()
            try:  # send what was claimed; if the SMSC is gone, leave it pending for a survivor to reclaim
                await asyncio.wait_for(asyncio.shield(sender), _left(deadline, reserve=1.5))
            except TimeoutError:
                sender.cancel()
                log.warning("stopping with %d claimed jobs unsent; another worker will reclaim them", len(self._buffer))
            except Stopping:
                pass
            for task in background:
                task.cancel()
            await self._shutdown(deadline)

    def stop(self) -> None:
        self._stopping.set()

    async def _until_stopped_or_dead(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for stop(); if one of the worker's own tasks dies first, raise its error (never run half dead)."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        # A task that ended because stop() was called (readers do, within block_ms) is not dead.
        stopped = self._stopping.is_set()
        dead = next((t for t in done if t is not stopping and not (stopped and _stopped(t))), None)
        if dead is not None:
            self._stopping.set()
            error = dead.exception() if not dead.cancelled() else None
            log.critical("worker task %s ended unexpectedly (%r); stopping the worker", dead.get_name(), error)
            raise RuntimeError(f"worker task {dead.get_name()} ended unexpectedly") from error

    async def _shutdown(self, deadline: float) -> None:
        """Let in-flight submits be answered and recorded, close the binds and writers; all by `deadline`."""
        while self._in_progress and time.monotonic() < deadline - 1.0 and self.pool and self.pool.bound:
            await asyncio.sleep(0.02)
        if self._settlements:
            await self._settlements.close(_left(deadline, reserve=0.6))
        if self.pool:
            await self.pool.close(_left(deadline, reserve=0.4))
        if self.sink:
            await self.sink.close(_left(deadline, reserve=0.2))
        await self._redis.aclose()

    # -- reading ----------------------------------------------------------------------------------------------

    async def _read_loop(self, streams: list[str], *, replies: bool) -> None:
        """Keep the buffer fed from `streams` (of one shard; there is a reply and a bulk reader per shard).

        Each read asks only for what the room has free (the reply reader may use the reply share too).
        """
        while not self._stopping.is_set():
            # Replies are read as soon as there is room for one per stream; the other lanes wait for a quarter
            # batch of room, so that a full window freeing its slots one by one is not read one entry at a time.
            minimum = len(streams) if replies else max(len(streams), self.config.batch // 4)
            room = await self.room.reserve(self.config.batch, replies=replies, minimum=minimum)
            if not room:
                return  # stopping
            entries = await self._read(streams, room)
            kept = await self._admit(entries, replies=replies) if entries and not self._stopping.is_set() else 0
            self.room.release(room - kept, replies=replies)
            await asyncio.sleep(0)  # let a reclaim pass waiting for room have what was given back

    async def _read(self, streams: list[str], count: int, *, pending: bool = False) -> list[StreamEntry]:
        """Up to `count` new entries in all (pending: up to `count` of our own from each stream)."""
        cfg = self.config
        read = partial(self.store.read, pending=True) if pending else self.store.read_new
        entries = await self._try("reading jobs", read, cfg.consumer, streams, count, cfg.block_ms)
        if entries is None:
            await self._pause(0.5)
            return []
        self.stats.read += len(entries)
        return entries

    async def _release_loop(self) -> None:
        """Move delayed jobs whose time has come back into their lanes (every worker does it; once each).

        Every HEARTBEAT_S it also reports this worker's binds, reloads the template catalog and, on a
        cluster, finds the units whose quota the shards used up together.
        """
        next_beat = 0.0
        while not await self._pause(self.config.release_interval_s):
            self.stats.released += await self._try("releasing delayed jobs", self.store.release_due) or 0
            if time.monotonic() >= next_beat:
                self.stats.unconfirmed += await self._try("ending unconfirmed jobs", self.store.end_unconfirmed) or 0
                next_beat = time.monotonic() + HEARTBEAT_S
                await self._try("reporting health", self._report_health)
                await self._try("summing quotas", self.store.refresh_quotas)
                await self._try("reloading templates", self._reload_catalog)

    async def _reload_catalog(self) -> None:
        """Use the reviewed catalog loaded into Redis (`taxsms template load`); the shipped one until then."""
        try:
            catalog = await TemplateCatalog.load_from_redis(self._redis, self.keys)
        except TemplateError as exc:
            log.error("template catalog in Redis is unusable, keeping the current one: %s", exc)
            return
        if len(catalog):
            self.catalog = catalog

    async def _heartbeat_loop(self) -> None:
        """Keep our in-flight entries' idle time fresh (one round trip for all), so nobody reclaims them."""
        interval = max(self.config.claim_idle_s / 3, 0.05)
        while not await self._pause(interval):
            await self._try(
                "refreshing in-flight entries", self.store.heartbeat, self.config.consumer, [*self._in_progress]
            )

    async def _reclaim_loop(self) -> None:
        """Take over entries a dead consumer left pending, as many as there is room for, until none is left.

        Idle time says a consumer is dead only if Redis was reachable for all of it: while Redis is away (and
        when it restarts, since the AOF keeps the entries' delivery times) live workers cannot refresh their
        entries either. So nothing is reclaimed until Redis has been up, and reachable from here, for a
        whole claim_idle_s.
        """
        idle_s = self.config.claim_idle_s
        interval = max(idle_s / 3, 0.05)
        idle_ms = int(idle_s * 1000)
        while not await self._pause(interval):
            uptime = await self._try("reading Redis uptime", uptime_s, self._redis)
            if uptime is None or uptime <= idle_s or time.monotonic() - self._redis_failed_at < idle_s:
                continue
            await self._reclaim_pass(idle_ms)

    async def _reclaim_pass(self, idle_ms: int) -> None:
        """Reclaim idle entries into the room there is; while idle ones are left, go on as soon as room frees."""
        more = True
        while more:
            room = await self.room.reserve(self.config.batch, replies=False)
            if not room:
                return  # stopping
            reclaimed = await self._try("reclaiming", self.store.reclaim, self.config.consumer, idle_ms, room)
            if reclaimed is None:
                self.room.release(room, replies=False)
                return
            entries, more = reclaimed
            kept = 0
            if entries:
                self.stats.reclaimed += len(entries)
                log.info("reclaimed %d pending entries from dead consumers", len(entries))
                kept = await self._admit(entries, redelivered=True)
            self.room.release(room - kept, replies=False)

    # -- admission --------------------------------------------------------------------------------------------

    async def _admit(self, entries: Sequence[StreamEntry], *, redelivered: bool = False, replies: bool = False) -> int:
        """Decide each entry's verdict, then act on them in batches: what may go now enters the lane buffer.

        Returns how many entries the worker now holds (the rest were settled, dead-lettered or moved), counted
        in the room's share for replies if `replies` (the reply reader's), else in the other lanes'.

        `redelivered`: entries read again (reclaimed, or our own left pending); one delivered more than
        max_deliveries times is dead-lettered on sight, since admitting it has stopped every worker before.
        """
        now = self._clock()
        fresh = [entry for entry in entries if (entry.stream, entry.entry_id) not in self._in_progress]
        if redelivered and fresh:
            fresh = await self._drop_worn(fresh)
        await self._with_redis(partial(self.admission.prepare, fresh))  # the policy's snapshot, directory lookups
        verdicts = [self.admission.decide(entry, now) for entry in fresh]
        if self.gate.stale:  # a principal it does not know yet (a campaign approved since): look again, once
            await self._with_redis(partial(self.gate.registry, fresh=True))
            verdicts = [self.admission.decide(entry, now) for entry in fresh]
        await self._with_redis(self.gate.flush_refusals)  # one audit entry per principal refused
        invalid = [(v.entry, v.error) for v in verdicts if isinstance(v, Refused)]
        raw = [(v.entry, v.job) for v in verdicts if isinstance(v, Raw)]
        ready = [v for v in verdicts if isinstance(v, Ready)]
        for verdict in verdicts:
            if isinstance(verdict, Held):
                self._record(verdict.settlement)
        await self._dead_letter(invalid)
        if raw:
            await self._each_alone_if_poison("route", self.store.route, raw)
        if not ready:
            return 0
        go = await self._each_alone_if_poison("claim", self.store.begin, [(v.entry, v.job) for v in ready])
        for verdict, send in zip(ready, go, strict=True):
            if send:
                claimed = Claimed(verdict.entry, verdict.job, verdict.message)
                self._in_progress[claimed.key] = replies
                self._buffer.put(claimed)
            else:
                self.stats.skipped += 1
        return sum(go)

    async def _drop_worn(self, entries: list[StreamEntry]) -> list[StreamEntry]:
        """Dead-letter the entries delivered more than max_deliveries times; return the others."""
        limit = self.config.max_deliveries
        counts = await self._with_redis(self.store.deliveries, entries)
        worn = [
            (entry, JobError("job", f"delivered {n} times without an outcome (admitting it stopped workers)"))
            for entry, n in zip(entries, counts, strict=True)
            if n > limit
        ]
        if worn:
            log.error("dead-lettering %d entries delivered more than %d times", len(worn), limit)
            await self._dead_letter(worn)
        return [entry for entry, n in zip(entries, counts, strict=True) if n <= limit]

    async def _dead_letter(self, invalid: list[tuple[StreamEntry, JobError]]) -> None:
        if not invalid:
            return
        try:
            await self._with_redis(self.store.dead_letter, invalid)
        except Stopping:
            raise
        except Exception:  # they stay pending, and are dead-lettered on sight once worn
            log.exception("could not dead-letter %d entries", len(invalid))
            return
        self.stats.dead_lettered += len(invalid)

    async def _each_alone_if_poison(
        self, step: str, call: Callable[[Sequence[tuple[StreamEntry, Job]]], Awaitable[Any]], items: list[Any]
    ) -> list[bool]:
        """Run the batch store call `call(items)`; per item, whether it went through (begin's flags, else True).

        If the batch fails for a reason other than Redis being away, each item runs alone and those that fail
        alone are dead-lettered naming `step`: one poison entry never stops its batch or the worker.
        """
        try:
            result = await self._with_redis(call, items)
        except Stopping:
            raise
        except Exception:
            log.exception("%s failed for a batch of %d; retrying its entries one by one", step, len(items))
        else:
            return list(result) if isinstance(result, list) else [True] * len(items)
        flags, poison = [], []
        for entry, job in items:
            try:
                result = await self._with_redis(call, [(entry, job)])
            except Stopping:
                raise
            except Exception as exc:
                error = JobError("job", f"{step} failed: {type(exc).__name__}: {exc}"[:500])
                poison.append((StreamEntry(entry.stream, entry.entry_id, job.id, entry.payload), error))
                flags.append(False)
            else:
                flags.append(bool(result[0]) if isinstance(result, list) else True)
        await self._dead_letter(poison)
        return flags

    def _record(self, settlement: Settlement, key: tuple[str, str] | None = None) -> None:
        """Queue an outcome for the batched settle script; forget the entry once it is written."""
        assert self._settlements is not None
        if settlement.outcome == State.DELAYED:
            self.stats.delayed += 1
        elif settlement.outcome == State.EXPIRED:
            self.stats.expired += 1
        written = self._settlements.add(settlement)
        if key is not None:
            written.add_done_callback(lambda _f: self._forget(key))

    # -- sending ----------------------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        """Submit claimed jobs, most urgent first, inside their window and within the shared rate."""
        assert self._slots is not None and self.pool is not None
        while (claimed := await self._buffer.get()) is not None:
            held = self.admission.hold(claimed.entry, claimed.job, self._clock())
            if held is None:
                await self._slots.acquire()
                if self.limiter is not None:
                    await self._paced(claimed.segments)
                    held = self.admission.hold(claimed.entry, claimed.job, self._clock())  # the window may have closed
                if held is not None:
                    self._slots.release()
            if held is not None:
                self._record(held, claimed.key)
                continue
            self._submit(claimed)

    async def _paced(self, segments: int) -> None:
        """Take `segments` of the shared rate so that the binds write them at once: a grant is spent by its write.

        A grant kept while the binds were full (the SMSC slower than the rate) is given up if that took longer
        than STALE_GRANT_S: written late, on top of the grants of the moment, it would bunch up at the SMSC.
        """
        assert self.limiter is not None and self.pool is not None
        while True:
            await self._with_redis(partial(self.limiter.acquire, segments, ahead=self._buffer.segments))
            if self.pool.writable_now(segments):
                return
            waited_from = time.monotonic()
            await self.pool.writable(segments)
            if time.monotonic() - waited_from <= STALE_GRANT_S:
                return
            self.limiter.forfeit()

    def _submit(self, claimed: Claimed) -> None:
        assert self.pool is not None
        cfg, message = self.config, claimed.message
        tracker = _InFlight(self, claimed)
        source, source_ton = cfg.source_addr, 0 if cfg.source_addr.isdigit() else 5
        destination, validity = (
            "86" + claimed.job.to,
            smpp_time(claimed.job.expires_ts) if claimed.job.expires_ts else "",
        )
        for index, part in enumerate(message.parts):
            pdu = submit_sm_frame(
                source_ton, source, 1, 1, destination, message.esm_class, 1, validity, message.data_coding, part
            )
            future = self.pool.submit(pdu)
            future.add_done_callback(lambda f, i=index: tracker.part_done(i, f))

    def _settle_submitted(self, tracker: _InFlight) -> None:
        assert self._settlements is not None
        claimed = tracker.claimed
        results = [r for r in tracker.results if r is not None]
        refused = next((r for r in results if not r.ok), None)
        if refused is None:
            ids = [normalise_message_id(r.message_id) for r in results]
            outcome = settlement(claimed.entry, claimed.job, State.SUBMITTED, message_ids=ids)
            self.stats.submitted += 1
            self.stats.segments += len(ids)
        else:
            transient = refused.command_status in TRANSIENT_FAILURE_STATUSES
            kind = "retry" if transient else State.FAILED
            detail = f"SMSC refused part: {refused.error}"
            outcome = settlement(claimed.entry, claimed.job, kind, detail, smpp_status=refused.command_status)
            if transient:
                self.stats.retried += 1
            else:
                self.stats.failed += 1
        self.stats.record_latency(max(r.latency for r in results))
        written = self._settlements.add(outcome)
        written.add_done_callback(lambda _f: self._release_slot(claimed.key))

    def _release_slot(self, key: tuple[str, str]) -> None:
        self._forget(key)
        assert self._slots is not None
        self._slots.release()

    def _forget(self, key: tuple[str, str]) -> None:
        """The entry is settled: it no longer counts against the room."""
        replies = self._in_progress.pop(key, None)
        if replies is not None:
            self.room.release(replies=replies)

    def _redis_failed(self) -> None:
        """Note that Redis was unreachable just now (live peers may have missed their refreshes too)."""
        self._redis_failed_at = time.monotonic()
        self.stats.redis_errors += 1

    async def _with_redis(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a store call, waiting out a Redis outage (the batch is held, nothing is dropped).

        Raises Stopping if stop() is called while Redis is away (what the call was for stays pending).
        """
        try:
            return await retry(
                partial(self._regrouping, call, *args),
                on=(*RETRYABLE, GroupsRecreated),
                backoff=Backoff(0.05, 2.0),
                what="Redis call",
                on_failure=lambda _exc: self._redis_failed(),
                stopping=self._stopping,
            )
        except (*RETRYABLE, GroupsRecreated) as exc:
            raise Stopping from exc

    async def _report_health(self) -> None:
        """The heartbeat: binds up and wanted, submits at the SMSC, send windows (for /readyz and the console)."""
        pool = self.pool
        bound, in_flight = (pool.bound, pool.in_flight) if pool else (0, 0)
        await report_worker_health(
            self._redis, self.keys, self.config.consumer, bound, wanted=self.config.binds, in_flight=in_flight,
            windows=self.admission.windows,
        )  # fmt: skip

    async def _try(self, what: str, call: Callable[..., Awaitable[T]], *args: Any) -> T | None:
        """One attempt of a periodic call; None (logged) if Redis is away, the next round tries again."""
        try:
            return await self._regrouping(call, *args)
        except (*RETRYABLE, GroupsRecreated) as exc:
            self._redis_failed()
            log.warning("Redis unavailable while %s (%s); trying again", what, exc)
            return None

    async def _regrouping(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`call(*args)`; if Redis lost the consumer groups (restarted without its data), re-create them."""
        try:
            return await call(*args)
        except ResponseError as exc:
            if not lost_groups(exc):
                raise
            log.error("Redis has lost the consumer groups (restarted without its data?); re-creating them: %s", exc)
            await self.store.ensure_group()
            raise GroupsRecreated(str(exc)) from exc

    async def _pause(self, seconds: float) -> bool:
        """Sleep `seconds`, or less if stop() is called meanwhile; True if the worker is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()


class Stopping(Exception):
    """stop() was called while a Redis call was waiting for Redis to come back."""


class GroupsRecreated(Exception):
    """Redis had lost the consumer groups; they are re-created and the call is to be tried again."""


def _left(deadline: float, *, reserve: float = 0.0) -> float:
    """Seconds until `deadline - reserve` (0 if past)."""
    return max(0.0, deadline - reserve - time.monotonic())


def _stopped(task: asyncio.Task[None]) -> bool:
    """Whether `task` ended because the worker is stopping (returned, or raised Stopping)."""
    return not task.cancelled() and (task.exception() is None or isinstance(task.exception(), Stopping))


def smpp_time(ts: float) -> str:
    """SMPP 3.4 absolute time (7.1.1) in China time: YYMMDDhhmmss, tenths, offset in quarter hours, '+'."""
    moment = datetime.fromtimestamp(ts, CHINA)
    return f"{moment:%y%m%d%H%M%S}{moment.microsecond // 100_000}32+"
