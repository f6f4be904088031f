"""The dispatcher process: readers feed the lane buffer, the sender empties it, chores keep the queue moving.

Reading top to bottom: readers take batches from the lane streams (replies on a reader of their own) →
admission (dispatcher/admission.py, pure) validates (dead-letter the bad), expires the stale, delays what is
outside its send window or before its not_before, and the rest is claimed in Redis (skipping what an earlier
attempt settled, suppressing what the rules forbid) → the sender (dispatcher/sending.py) takes the most
urgent claimed job, submits every part and records the outcome. Entries left pending by a dead worker are
reclaimed through the JobStore; delayed jobs are released, unconfirmed ones ended, the heartbeat written by
the chores of dispatcher/maintenance.py. While no bind is up the worker reads nothing, and after
handback_after_s hands the jobs it claimed back to the others (dispatcher/handback.py); so does a stopping
worker with those it did not send.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from taxsms.channels.addressing import Addressing
from taxsms.channels.pool import SmppPool
from taxsms.dispatcher.admission import Admission, Held, Raw, Ready, Refused
from taxsms.dispatcher.config import WorkerConfig
from taxsms.dispatcher.handback import TAKE_S, WATCH_S, Outage, until_bound
from taxsms.dispatcher.heartbeat import report_worker_health
from taxsms.dispatcher.lanes import LaneBuffer, Room
from taxsms.dispatcher.maintenance import CATALOG_S, HEALTH_S, QUOTAS_S, UNCONFIRMED_S, Chore, run_chore
from taxsms.dispatcher.ratelimit import RateLimiter
from taxsms.dispatcher.receipts import DeliverySink
from taxsms.dispatcher.redis_calls import RedisCalls, Stopping
from taxsms.dispatcher.sending import PACE, Claimed, EntryKey, Sender
from taxsms.dispatcher.stats import WorkerStats
from taxsms.governance.admission import Gate
from taxsms.queue.connect import AnyRedis, connect, keys_for
from taxsms.queue.jobs import Job, JobError, Lane
from taxsms.queue.store import HANDED_BACK_IDLE_MS, JobStore, StorageCaps, StreamEntry
from taxsms.templates.catalog import TemplateCatalog, TemplateError

__all__ = ["Worker", "WorkerConfig", "WorkerStats"]

log = logging.getLogger(__name__)
# Readers of the non-reply lanes per shard: while one admits and claims its batch (a Redis round trip and the
# policy's CPU), the other reads. With one, at 0 ms SMSC latency the send loop waited for a claimed job 45-89 % of
# the run; with two, 3-12 %, and 15 % more msg/s (7 paired runs, 0 ms / window 64); no change at 20 ms.
BULK_READERS = 2
STALLED_S = 0.5  # stopping: the claimed jobs are sent while the sender takes one at least this often
REGISTRY_MAX_AGE_S = 5.0  # how old the gate's snapshot of units, campaigns and quotas may get


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
        self.calls = RedisCalls(self.store, on_failure=self._count_redis_error)
        windows = config.windows()
        if warning := windows.calendar_warning(clock()):  # jobs needing the missing year wait (Admission.hold)
            log.error(warning)
        self.catalog = TemplateCatalog.from_dir()  # until the reviewed catalog is read from Redis
        self.gate = Gate(self._redis, self.keys, max_age=REGISTRY_MAX_AGE_S)  # the admission policy, applied again
        self.admission = Admission(lambda: self.catalog, windows, self.keys.intake, self.gate)
        self.limiter = (
            RateLimiter(self._redis, self.keys.rate(config.link_name), config.tps * PACE, clock=rate_clock)
            if config.tps > 0
            else None
        )
        self._buffer: LaneBuffer[Claimed] = LaneBuffer(len(Lane))
        in_flight = 2 * config.window * config.binds  # two windows: the buffer keeps the next window ready
        capacity = config.buffer or max(config.batch, in_flight) + in_flight
        self.room = Room(capacity, reserved=int(capacity * config.reply_share))
        self._in_progress: dict[EntryKey, bool] = {}  # (stream, entry id) -> in the room's reply share?
        self._outage = Outage(config.handback_after_s)
        self._handed_back_seen: int | None = None  # the shards' handed_back count at our last pass taking them
        self._refreshing = asyncio.Lock()  # a heartbeat never runs with a handback (it would refresh those again)
        self.sender = Sender(
            self._buffer, self.admission, Addressing(config.source_addr), self.calls, self.stats,
            limiter=self.limiter, clock=clock, forget=self._forget,
        )  # fmt: skip
        self.pool: SmppPool | None = None
        self.sink: DeliverySink | None = None

    @staticmethod
    def tune_gc() -> None:
        """For a process that is this worker (`taxsms worker`): leave what start-up built out of every later
        collection and collect the young generation every 10,000 objects rather than 700 (the collector's time
        at 0 ms latency: ~9 -> ~3 µs per message, bench/throughput.py)."""
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the groups, bind to the SMSC and start the background writers."""
        cfg = self.config
        await self.calls.wait_out(self.store.ensure_group)
        await self.calls.wait_out(self.store.refresh_quotas)
        await self._reload_catalog()
        await self.calls.wait_out(self.gate.registry)  # the admission snapshot (and review's tables) before a claim
        self.sink = DeliverySink(self.store)
        self.sink.start()
        # Jobs handed to the SMSC whose outcome is not recorded yet, at the SMSC or answered and being recorded:
        # one window per bind in all. They are all that a kill -9 can duplicate (a survivor resends them,
        # answered ones included until their record is written), so that is the bound: one window per bind.
        # An answered job keeps its slot for its record's round trip, which the window then waits for.
        self.pool = SmppPool(cfg.session_config(), self.sink, binds=cfg.binds)
        self.sender.start(self.store, self.pool, slots=cfg.window * cfg.binds)
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
            *(asyncio.create_task(run_chore(chore, self.calls), name=chore.name) for chore in self._chores()),
        ]
        sender = asyncio.create_task(self.sender.run(), name="send")
        readers: list[asyncio.Task[None]] = []
        deadline = math.inf
        try:
            for replies, others in groups:  # our own leftovers
                leftovers = await self._read(replies + others, self.config.batch, pending=True)
                self.room.add(await self._admit(leftovers, redelivered=True))
            readers = [
                asyncio.create_task(self._read_loop(streams, replies=is_reply), name=f"read-{streams[0]}-{n}")
                for replies, others in groups
                for streams, is_reply, n in ((replies, True, 0), *((others, False, n) for n in range(BULK_READERS)))
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
            await self._send_while_taken(sender, deadline)  # what is left is handed back (_shutdown)
            for task in background:
                task.cancel()
            await self._shutdown(deadline)

    def stop(self) -> None:
        self.calls.stopping.set()

    async def _send_while_taken(self, sender: asyncio.Task[None], deadline: float) -> None:
        """Stopping: the sender sends what was claimed for as long as it keeps taking jobs from the buffer.

        Once it takes none for STALLED_S (the SMSC's window full and not answering, no bind, the rate spent) or
        the deadline's reserve is reached, it is stopped: what is left is handed back at once (_shutdown) for a
        worker that can send it now, not held until this one's stop timeout runs out.
        """
        left = len(self._buffer)
        while not sender.done():
            await asyncio.wait([sender], timeout=min(STALLED_S, _left(deadline, reserve=1.5)))
            if sender.done():
                break
            if len(self._buffer) >= left or _left(deadline, reserve=1.5) <= 0:
                sender.cancel()  # the job it was waiting to submit goes back into the buffer
                await asyncio.wait([sender], timeout=_left(deadline, reserve=1.4))
                break
            left = len(self._buffer)
        if sender.done() and not sender.cancelled():
            sender.exception()  # seen: Stopping (Redis away), or the error _until_stopped_or_dead reported

    async def _until_stopped_or_dead(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for stop(); if one of the worker's own tasks dies first, raise its error (never run half dead)."""
        stopping = asyncio.ensure_future(self.calls.stopping.wait())
        done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        # A task that ended because stop() was called (readers do, within block_ms) is not dead.
        stopped = self.calls.stopping.is_set()
        dead = next((t for t in done if t is not stopping and not (stopped and _stopped(t))), None)
        if dead is not None:
            self.calls.stopping.set()
            error = dead.exception() if not dead.cancelled() else None
            log.critical("worker task %s ended unexpectedly (%r); stopping the worker", dead.get_name(), error)
            raise RuntimeError(f"worker task {dead.get_name()} ended unexpectedly") from error

    async def _shutdown(self, deadline: float) -> None:
        """Let in-flight submits be answered and recorded, close the binds and writers, hand back the claimed jobs
        that never reached the SMSC; all by `deadline`. The sender takes no more from the buffer."""
        unsent = self._buffer.take_all()
        for claimed in unsent:
            self._forget(claimed.key)
        # handed back while the in-flight ones are answered and recorded: another worker can send them now
        handing_back = asyncio.create_task(self._hand_back_unsent(unsent, deadline)) if unsent else None
        while self._in_progress and time.monotonic() < deadline - 1.0 and self.pool and self.pool.bound:
            await asyncio.sleep(0.02)
        await self.sender.close(_left(deadline, reserve=0.6))
        if self.pool:
            await self.pool.close(_left(deadline, reserve=0.4))
        if self.sink:
            await self.sink.close(_left(deadline, reserve=0.2))
        if handing_back is not None:
            await asyncio.wait([handing_back], timeout=_left(deadline))
        await self._redis.aclose()

    async def _hand_back_unsent(self, unsent: list[Claimed], deadline: float) -> None:
        """Stopping: hand `unsent` back, for a worker whose binds are up to take at once (handback.py).

        If Redis does not answer by `deadline`, they stay pending under this consumer, reclaimed claim_idle_s later.
        """
        entries = [claimed.entry for claimed in unsent]
        hand_back = self.calls.attempt("handing back unsent jobs", self.store.hand_back, self.config.consumer, entries)
        try:
            handed = await asyncio.wait_for(hand_back, _left(deadline, reserve=0.05))
        except TimeoutError:
            handed = None
        if handed is None:
            log.warning("stopping with %d claimed jobs unsent; another worker will reclaim them", len(unsent))
            return
        self.stats.handed_back += handed
        log.info("stopping: handed %d claimed jobs that were not sent back to the other workers", handed)

    # -- reading ----------------------------------------------------------------------------------------------

    async def _read_loop(self, streams: list[str], *, replies: bool) -> None:
        """Keep the buffer fed from `streams` (of one shard, which has a reply reader and BULK_READERS others).

        Each read asks only for what the room has free (the reply reader may use the reply share too), and only
        while a bind is up: with none, what it read would wait here while other workers could send it.
        """
        pool = self.pool
        assert pool is not None
        while not self.calls.stopping.is_set():
            # Replies are read as soon as there is room for one per stream; the other lanes wait for a quarter
            # batch of room, so that a full window freeing its slots one by one is not read one entry at a time.
            minimum = len(streams) if replies else max(len(streams), self.config.batch // 4)
            room = await self.room.reserve(self.config.batch, replies=replies, minimum=minimum)
            if not room:
                return  # stopping
            if not await until_bound(pool, self.calls.stopping):
                self.room.release(room, replies=replies)
                return
            entries = await self._read(streams, room)
            kept = await self._admit(entries, replies=replies) if entries and not self.calls.stopping.is_set() else 0
            self.room.release(room - kept, replies=replies)
            await asyncio.sleep(0)  # let a reclaim pass waiting for room have what was given back

    async def _read(self, streams: list[str], count: int, *, pending: bool = False) -> list[StreamEntry]:
        """Up to `count` new entries in all (pending: up to `count` of our own from each stream)."""
        cfg = self.config
        read = partial(self.store.read, pending=True) if pending else self.store.read_new
        entries = await self.calls.attempt("reading jobs", read, cfg.consumer, streams, count, cfg.block_ms)
        if entries is None:
            await self.calls.pause(0.5)
            return []
        self.stats.read += len(entries)
        return entries

    def _chores(self) -> list[Chore]:
        """The periodic chores (dispatcher/maintenance.py), each a task of its own; the first round comes soon."""
        first = self.config.release_interval_s
        watch = min(WATCH_S, self.config.handback_after_s / 2)
        return [
            Chore("handback", "handing claimed jobs back", watch, self._hand_back_if_down, watch),
            Chore("take", "taking handed-back jobs", TAKE_S, self._take_handed_back, first),
            Chore("release", "releasing delayed jobs", first, self._release_due, first),
            Chore("unconfirmed", "ending unconfirmed jobs", UNCONFIRMED_S, self._end_unconfirmed, first),
            Chore("health", "reporting health", HEALTH_S, self._report_health, first),
            Chore("quotas", "summing quotas", QUOTAS_S, self.store.refresh_quotas, first),
            Chore("catalog", "reloading templates", CATALOG_S, self._reload_catalog, first),
        ]

    async def _hand_back_if_down(self) -> None:
        """No bind up for handback_after_s: hand the claimed jobs still in the buffer back to the other workers.

        Those already given to the binds stay (at the SMSC their outcome is unknown; the others wait for a bind).
        """
        assert self.pool is not None
        if not self._outage.due(self.pool.bound, time.monotonic()) or not len(self._buffer):
            return
        async with self._refreshing:
            claimed = self._buffer.take_all()
            for item in claimed:
                self._forget(item.key)
            handed = await self.calls.wait_out(self.store.hand_back, self.config.consumer, [c.entry for c in claimed])
        self.stats.handed_back += handed
        log.warning(
            "no SMPP bind up for %.1f s: handed %d claimed jobs back to the workers whose binds are up "
            "(%d given to the binds kept, sent when a bind is up again)",
            time.monotonic() - (self._outage.since or 0.0), handed, len(self._in_progress),
        )  # fmt: skip

    async def _take_handed_back(self) -> None:
        """Reclaim what workers with no bind up handed back, at once (not after claim_idle_s), when a bind is up."""
        assert self.pool is not None
        if not self.pool.bound:
            return
        total = await self.store.handed_back()
        if total != self._handed_back_seen and await self._reclaim_pass(HANDED_BACK_IDLE_MS, "workers with no bind"):
            self._handed_back_seen = total

    async def _release_due(self) -> None:
        """Move delayed jobs whose time has come back into their lanes (every worker does it; once each)."""
        self.stats.released += await self.store.release_due()

    async def _end_unconfirmed(self) -> None:
        self.stats.unconfirmed += await self.store.end_unconfirmed()

    async def _report_health(self) -> None:
        """The heartbeat: binds up and wanted, submits at the SMSC, send windows (for /readyz and the console)."""
        pool = self.pool
        bound, in_flight = (pool.bound, pool.in_flight) if pool else (0, 0)
        await report_worker_health(
            self._redis, self.keys, self.config.consumer, bound, wanted=self.config.binds, in_flight=in_flight,
            windows=self.admission.windows,
        )  # fmt: skip

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
        while not await self.calls.pause(interval):
            async with self._refreshing:
                await self.calls.attempt(
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
        while not await self.calls.pause(interval):
            uptime = await self.calls.attempt("reading Redis uptime", self.store.uptime_s)
            if uptime is None or uptime <= idle_s or time.monotonic() - self.calls.failed_at < idle_s:
                continue
            await self._reclaim_pass(idle_ms)

    async def _reclaim_pass(self, idle_ms: int, whose: str = "dead consumers") -> bool:
        """Reclaim idle entries into the room there is; while idle ones are left, go on as soon as room frees.

        Only while a bind is up (else they would wait here). Returns whether none idle is left.
        """
        assert self.pool is not None
        more = True
        while more:
            room = await self.room.reserve(self.config.batch, replies=False)
            if not room:
                return False  # stopping
            if not self.pool.bound:
                self.room.release(room, replies=False)
                return False
            reclaimed = await self.calls.attempt("reclaiming", self.store.reclaim, self.config.consumer, idle_ms, room)
            if reclaimed is None:
                self.room.release(room, replies=False)
                return False
            entries, more = reclaimed
            kept = 0
            if entries:
                self.stats.reclaimed += len(entries)
                log.info("reclaimed %d pending entries from %s", len(entries), whose)
                kept = await self._admit(entries, redelivered=True)
            self.room.release(room - kept, replies=False)
        return True

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
        await self.calls.wait_out(partial(self.admission.prepare, fresh))  # the policy's snapshot, directory lookups
        verdicts = [self.admission.decide(entry, now) for entry in fresh]
        if self.gate.stale:  # a principal it does not know yet (a campaign approved since): look again, once
            await self.calls.wait_out(partial(self.gate.registry, fresh=True))
            verdicts = [self.admission.decide(entry, now) for entry in fresh]
        await self.calls.wait_out(self.gate.flush_refusals)  # one audit entry per principal refused
        invalid = [(v.entry, v.error) for v in verdicts if isinstance(v, Refused)]
        raw = [(v.entry, v.job) for v in verdicts if isinstance(v, Raw)]
        ready = [v for v in verdicts if isinstance(v, Ready)]
        for verdict in verdicts:
            if isinstance(verdict, Held):
                self.sender.record(verdict.settlement)
        await self._dead_letter(invalid)
        if raw:
            await self._each_alone_if_poison("route", self.store.route, raw)
        if not ready:
            return 0
        quota_kinds = self.store.rules.quota_kinds  # their segments are held against the unit's quota at claim
        segments = {v.job.id: v.message.segments for v in ready if v.job.kind in quota_kinds}
        claim = partial(self.store.begin, segments=segments)
        go = await self._each_alone_if_poison("claim", claim, [(v.entry, v.job) for v in ready])
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
        counts = await self.calls.wait_out(self.store.deliveries, entries)
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
            await self.calls.wait_out(self.store.dead_letter, invalid)
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
            result = await self.calls.wait_out(call, items)
        except Stopping:
            raise
        except Exception:
            log.exception("%s failed for a batch of %d; retrying its entries one by one", step, len(items))
        else:
            return list(result) if isinstance(result, list) else [True] * len(items)
        flags, poison = [], []
        for entry, job in items:
            try:
                result = await self.calls.wait_out(call, [(entry, job)])
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

    def _forget(self, key: EntryKey) -> None:
        """The entry is settled: it no longer counts against the room."""
        replies = self._in_progress.pop(key, None)
        if replies is not None:
            self.room.release(replies=replies)

    def _count_redis_error(self) -> None:
        self.stats.redis_errors += 1


def _left(deadline: float, *, reserve: float = 0.0) -> float:
    """Seconds until `deadline - reserve` (0 if past)."""
    return max(0.0, deadline - reserve - time.monotonic())


def _stopped(task: asyncio.Task[None]) -> bool:
    """Whether `task` ended because the worker is stopping (returned, or raised Stopping)."""
    return not task.cancelled() and (task.exception() is None or isinstance(task.exception(), Stopping))
