"""The dispatcher's loop: read jobs from the intake stream, submit them over SMPP, record the outcome.

Reading top to bottom: read a batch → validate (dead-letter the bad) → claim the batch in Redis (skips what
an earlier attempt settled) → submit every part → once all parts are answered, record the outcome and ack
the entry (one script call per batch of outcomes). Receipts and MO messages flow the other way through the
channel into the DeliverySink. Entries left pending by a dead worker are reclaimed with XAUTOCLAIM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis

from taxsms.channels.pool import SmppPool
from taxsms.channels.session import SessionConfig, SubmitResult
from taxsms.channels.smpp import SubmitSm, encode_message, normalise_message_id
from taxsms.dispatcher.batcher import RETRYABLE, BatchWriter
from taxsms.dispatcher.receipts import DeliverySink
from taxsms.queue.jobs import Job, JobError, State, parse_job
from taxsms.queue.keys import CONSUMER_GROUP, Keys
from taxsms.queue.store import JobStore, Settlement, StreamEntry

log = logging.getLogger(__name__)
LATENCY_SAMPLES = 200_000


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
    claim_idle_s: float = 60.0  # a pending entry idle this long belongs to a dead worker
    message_id_ttl: int = 3 * 24 * 3600
    receipt_ids_decimal: bool = False  # the SMSC writes receipt-text ids in decimal, submit_sm_resp ids in hex

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            host=self.smsc_host,
            port=self.smsc_port,
            system_id=self.system_id,
            password=self.password,
            window=self.window,
            response_timeout=self.response_timeout,
            enquire_link_interval=self.enquire_link_interval,
        )


@dataclass(slots=True)
class WorkerStats:
    """What this worker process did (its own share; Redis holds the totals)."""

    read: int = 0
    submitted: int = 0
    failed: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    segments: int = 0
    reclaimed: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, first part sent -> last part answered

    def record_latency(self, seconds: float) -> None:
        if len(self.latencies) < LATENCY_SAMPLES:
            self.latencies.append(seconds)


class _InFlight:
    """One job whose parts are out at the SMSC; settles itself when the last part is answered."""

    __slots__ = ("entry_id", "job", "remaining", "results", "worker")

    def __init__(self, worker: Worker, entry_id: str, job: Job, parts: int) -> None:
        self.worker = worker
        self.entry_id = entry_id
        self.job = job
        self.remaining = parts
        self.results: list[SubmitResult | None] = [None] * parts

    def part_done(self, index: int, future: asyncio.Future[SubmitResult]) -> None:
        if future.cancelled():
            return  # the channel was closed under us: the entry stays pending and will be resent
        self.results[index] = future.result()
        self.remaining -= 1
        if self.remaining == 0:
            self.worker._settle_job(self)


class Worker:
    """One dispatcher process: a consumer in the group, with its own SMPP binds."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        redis: Redis | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.stats = WorkerStats()
        self._clock = clock
        self._redis = redis or Redis.from_url(config.redis_url, socket_keepalive=True)
        self.store = JobStore(self._redis, Keys(config.prefix), clock=clock, message_id_ttl=config.message_id_ttl)
        self._in_progress: dict[str, str] = {}  # entry id -> job id
        self._stopping = asyncio.Event()
        self._ref = 0
        self.pool: SmppPool | None = None
        self.sink: DeliverySink | None = None
        self._settlements: BatchWriter[Settlement] | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the group, bind to the SMSC and start the background writers."""
        cfg = self.config
        await self.store.ensure_group()
        self.sink = DeliverySink(self.store, text_ids_decimal=cfg.receipt_ids_decimal)
        self.sink.start()
        self._settlements = BatchWriter(self.store.settle, name="settle")
        self._settlements.start()
        self._slots = asyncio.Semaphore(cfg.window * cfg.binds * 2 + cfg.batch)
        self.pool = SmppPool(cfg.session_config(), self.sink, binds=cfg.binds)
        self.pool.start()

    async def run(self) -> None:
        """Dispatch until stop() is called; then finish what is in flight and shut down."""
        if self.pool is None:
            await self.start()
        reclaimer = asyncio.create_task(self._reclaim_loop(), name="reclaim")
        try:
            await self._dispatch(await self._read(pending=True))  # our own leftovers after a restart
            while not self._stopping.is_set():
                entries = await self._read()
                if entries:
                    await self._dispatch(entries)
        finally:
            reclaimer.cancel()
            await self._shutdown()

    def stop(self) -> None:
        self._stopping.set()

    async def _shutdown(self, timeout: float = 15.0) -> None:
        deadline = self._clock() + timeout
        while self._in_progress and self._clock() < deadline and self.pool and self.pool.bound:
            await asyncio.sleep(0.02)
        if self._settlements:
            await self._settlements.close()
        if self.pool:
            await self.pool.close()
        if self.sink:
            await self.sink.close()
        await self._redis.aclose()

    # -- reading ----------------------------------------------------------------------------------------------

    async def _read(self, *, pending: bool = False) -> list[StreamEntry]:
        try:
            entries = await self.store.read(
                self.config.consumer, self.config.batch, self.config.block_ms, pending=pending
            )
        except RETRYABLE as exc:
            log.warning("Redis unavailable while reading jobs (%s); retrying", exc)
            await asyncio.sleep(0.5)
            return []
        self.stats.read += len(entries)
        return entries

    async def _reclaim_loop(self) -> None:
        """Take over entries a dead consumer left pending; keep our own in-flight entries fresh."""
        interval = max(self.config.claim_idle_s / 3, 0.05)
        redis, stream, me = self._redis, self.store.keys.intake, self.config.consumer
        idle_ms = int(self.config.claim_idle_s * 1000)
        while True:
            await asyncio.sleep(interval)
            try:
                if self._in_progress:  # heartbeat: reset our entries' idle time so nobody steals them
                    await redis.xclaim(stream, CONSUMER_GROUP, me, 0, list(self._in_progress), justid=True)
                _, claimed, *_ = await redis.xautoclaim(stream, CONSUMER_GROUP, me, idle_ms, count=self.config.batch)
            except RETRYABLE:
                continue
            if claimed:
                entries = self.store.parse_entries(claimed)
                self.stats.reclaimed += len(entries)
                log.info("reclaimed %d pending entries from dead consumers", len(entries))
                await self._dispatch(entries)

    # -- dispatching -----------------------------------------------------------------------------------------

    async def _dispatch(self, entries: Sequence[StreamEntry]) -> None:
        valid: list[tuple[str, Job]] = []
        invalid: list[tuple[StreamEntry, JobError]] = []
        for entry in entries:
            if entry.entry_id in self._in_progress:
                continue  # already being sent by us
            try:
                valid.append((entry.entry_id, parse_job(entry.payload)))
            except JobError as error:
                job_id = "" if error.field == "id" else entry.job_id
                invalid.append((StreamEntry(entry.entry_id, job_id, entry.payload), error))
        if invalid:
            await self._with_redis(self.store.dead_letter, invalid)
            self.stats.dead_lettered += len(invalid)
        if not valid:
            return
        go = await self._with_redis(self.store.begin, valid)
        assert self._slots is not None and self._settlements is not None
        for (entry_id, job), send in zip(valid, go, strict=True):
            if not send:
                self.stats.skipped += 1
                self._settlements.add(Settlement(job.id, entry_id, "skip"))
                continue
            await self._slots.acquire()
            self._submit(entry_id, job)

    def _submit(self, entry_id: str, job: Job) -> None:
        assert self.pool is not None
        self._ref = (self._ref + 1) & 0xFF
        message = encode_message(job.text, self._ref)
        self._in_progress[entry_id] = job.id
        tracker = _InFlight(self, entry_id, job, len(message.parts))
        for index, part in enumerate(message.parts):
            pdu = SubmitSm(
                sequence_number=0,
                source_addr_ton=5 if not self.config.source_addr.isdigit() else 0,
                source_addr=self.config.source_addr,
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr="86" + job.to,
                esm_class=message.esm_class,
                registered_delivery=1,
                data_coding=message.data_coding,
                short_message=part,
            )
            future = self.pool.submit(pdu)
            future.add_done_callback(lambda f, i=index: tracker.part_done(i, f))

    def _settle_job(self, tracker: _InFlight) -> None:
        assert self._settlements is not None
        results = [r for r in tracker.results if r is not None]
        refused = next((r for r in results if not r.ok), None)
        if refused is None:
            ids = [normalise_message_id(r.message_id) for r in results]
            settlement = Settlement(tracker.job.id, tracker.entry_id, State.SUBMITTED, message_ids=ids)
            self.stats.submitted += 1
            self.stats.segments += len(ids)
        else:
            detail = f"SMSC refused part: {refused.error}"
            settlement = Settlement(tracker.job.id, tracker.entry_id, State.FAILED, detail, refused.command_status)
            self.stats.failed += 1
        self.stats.record_latency(max(r.latency for r in results))
        written = self._settlements.add(settlement)
        written.add_done_callback(lambda _f: self._release(tracker.entry_id))

    def _release(self, entry_id: str) -> None:
        self._in_progress.pop(entry_id, None)
        assert self._slots is not None
        self._slots.release()

    async def _with_redis(self, call, *args):  # type: ignore[no-untyped-def]
        """Run a store call, waiting out a Redis outage (the batch is held, nothing is dropped)."""
        delay = 0.05
        while True:
            try:
                return await call(*args)
            except RETRYABLE as exc:
                log.warning("Redis unavailable (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
