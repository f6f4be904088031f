"""Sending: the most urgent claimed job out to the SMSC, and its outcome recorded once every part is answered.

The send loop takes a claimed job from the lane buffer, checks its window again, waits for the shared rate
limit and a slot (a job handed to the SMSC holds one until its outcome is written), and submits every part
through the pool. An `_InFlight` tracker collects the parts' answers and settles the job: submitted with its
message ids, or refused (retried if the refusal is transient, else failed), in the batched settle script.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial

import msgspec

from taxsms.channels.addressing import Addressing
from taxsms.channels.pool import SmppPool
from taxsms.channels.session import SubmitResult
from taxsms.channels.smpp import TRANSIENT_FAILURE_STATUSES, EncodedMessage
from taxsms.dispatcher.admission import Admission, settlement
from taxsms.dispatcher.batcher import BatchWriter
from taxsms.dispatcher.lanes import LaneBuffer
from taxsms.dispatcher.ratelimit import RateLimiter
from taxsms.dispatcher.redis_calls import RedisCalls
from taxsms.dispatcher.stats import WorkerStats
from taxsms.queue.correlation import normalise_message_id
from taxsms.queue.jobs import Job, State
from taxsms.queue.store import JobStore, Settlement, StreamEntry

# Grants go at 99 % of --tps: a write a few ms late (a loaded CPU) after one on time still leaves every sliding
# second at the SMSC within T + 1 % (at T = 10, 10 ms of lateness; at 1,000, 15 segments).
PACE = 0.99
STALE_GRANT_S = 0.005  # a grant held longer than this for want of window room is given up (Sender._paced)

EntryKey = tuple[str, str]  # (stream, entry id)


class Claimed(msgspec.Struct, eq=False):
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
    def key(self) -> EntryKey:
        return (self.entry.stream, self.entry.entry_id)


class _InFlight:
    """One job whose parts are out at the SMSC; settles itself when the last part is answered."""

    __slots__ = ("abandoned", "claimed", "remaining", "results", "sender")

    def __init__(self, sender: Sender, claimed: Claimed) -> None:
        self.sender = sender
        self.claimed = claimed
        self.remaining = claimed.segments
        self.results: list[SubmitResult | None] = [None] * claimed.segments
        self.abandoned = False

    def part_done(self, index: int, future: asyncio.Future[SubmitResult]) -> None:
        if self.abandoned:
            return
        if future.cancelled():  # the channel was closed under us: give the entry up, reclaim sends it again
            self.abandoned = True
            self.sender.release_slot(self.claimed.key)
            return
        self.results[index] = future.result()
        self.remaining -= 1
        if self.remaining == 0:
            self.sender.settle_submitted(self)


class Sender:
    """Submits claimed jobs and records every outcome (also the admission's holds) in batches."""

    def __init__(
        self,
        buffer: LaneBuffer[Claimed],
        admission: Admission,
        addressing: Addressing,
        calls: RedisCalls,
        stats: WorkerStats,
        *,
        limiter: RateLimiter | None,
        clock: Callable[[], float],
        forget: Callable[[EntryKey], None],
    ) -> None:
        """`forget(key)` is called once an entry's outcome is written: it no longer counts as held."""
        self._buffer = buffer
        self.admission = admission
        self.addressing = addressing
        self._calls = calls
        self.stats = stats
        self.limiter = limiter
        self._clock = clock
        self._forget = forget
        self.pool: SmppPool | None = None
        self._settlements: BatchWriter[Settlement] | None = None
        self._slots: asyncio.Semaphore | None = None

    def start(self, store: JobStore, pool: SmppPool, slots: int) -> None:
        """Start the settle writer; submit through `pool`, at most `slots` jobs whose outcome is not written."""
        self.pool = pool
        self._settlements = BatchWriter(store.settle, name="settle")
        self._settlements.start()
        self._slots = asyncio.Semaphore(slots)

    async def close(self, timeout: float) -> None:
        """Write the outcomes still buffered (for up to `timeout` seconds)."""
        if self._settlements:
            await self._settlements.close(timeout)

    async def run(self) -> None:
        """Submit claimed jobs, most urgent first, inside their window and within the shared rate.

        A job the sender is stopped with (cancelled waiting for a slot or the rate) goes back into the buffer: it
        never reached the SMSC, and a stopping worker hands the buffer back.
        """
        assert self._slots is not None
        buffer, slots, stats = self._buffer, self._slots, self.stats
        while True:
            if (claimed := buffer.get_nowait()) is None:
                since = time.monotonic()
                claimed = await buffer.get()
                stats.waited_for_job_s += time.monotonic() - since
                if claimed is None:
                    return
            try:
                held = self.admission.hold(claimed.entry, claimed.job, self._clock())
                if held is None:
                    since = time.monotonic()
                    await slots.acquire()
                    stats.waited_for_slot_s += time.monotonic() - since
                    if self.limiter is not None:
                        since = time.monotonic()
                        await self._paced(claimed.segments)
                        stats.waited_for_rate_s += time.monotonic() - since
                        held = self.admission.hold(claimed.entry, claimed.job, self._clock())  # the window may close
                    if held is not None:
                        slots.release()
            except BaseException:
                buffer.put(claimed)
                raise
            if held is not None:
                self.record(held, claimed.key)
                continue
            self._submit(claimed)

    async def _paced(self, segments: int) -> None:
        """Take `segments` of the shared rate so that the binds write them at once: a grant is spent by its write.

        A grant kept while the binds were full (the SMSC slower than the rate) is given up if that took longer
        than STALE_GRANT_S: written late, on top of the grants of the moment, it would bunch up at the SMSC.
        """
        assert self.limiter is not None and self.pool is not None
        while True:
            await self._calls.wait_out(partial(self.limiter.acquire, segments, ahead=self._buffer.segments))
            if self.pool.writable_now(segments):
                return
            waited_from = time.monotonic()
            await self.pool.writable(segments)
            if time.monotonic() - waited_from <= STALE_GRANT_S:
                return
            self.limiter.forfeit()

    def _submit(self, claimed: Claimed) -> None:
        assert self.pool is not None
        job, tracker, submit = claimed.job, _InFlight(self, claimed), self.pool.submit
        for index, frame in enumerate(self.addressing.submit_sm(job.to, job.expires_ts, claimed.message)):
            submit(frame).add_done_callback(lambda f, i=index: tracker.part_done(i, f))

    def settle_submitted(self, tracker: _InFlight) -> None:
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
        written.add_done_callback(lambda _f: self.release_slot(claimed.key))

    def record(self, outcome: Settlement, key: EntryKey | None = None) -> None:
        """Queue an outcome for the batched settle script; forget the entry `key` once it is written."""
        assert self._settlements is not None
        if outcome.outcome == State.DELAYED:
            self.stats.delayed += 1
        elif outcome.outcome == State.EXPIRED:
            self.stats.expired += 1
        written = self._settlements.add(outcome)
        if key is not None:
            written.add_done_callback(lambda _f: self._forget(key))

    def release_slot(self, key: EntryKey) -> None:
        self._forget(key)
        assert self._slots is not None
        self._slots.release()
