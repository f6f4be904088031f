"""Several binds to one SMSC sharing one submit queue: whichever bind has window room sends next."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from taxsms.channels.session import (
    EventSink,
    PendingSubmit,
    SessionConfig,
    SessionStats,
    SmppSession,
    SubmitResult,
)


class SmppPool:
    """`binds` transceiver sessions to one SMSC; submit() queues, the sessions drain the queue."""

    def __init__(
        self,
        config: SessionConfig,
        on_event: EventSink,
        *,
        binds: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue: deque[PendingSubmit] = deque()
        self._loop = asyncio.get_running_loop()
        self._room = asyncio.Event()  # set when a bind may have room again (answer, bind, end of a pause)
        room = self._room.set
        self.sessions = [
            SmppSession(config, self._queue, on_event, wake=self._wake, on_room=room, name=f"bind-{i + 1}", clock=clock)
            for i in range(binds)
        ]

    def start(self) -> None:
        for session in self.sessions:
            session.start()

    async def wait_bound(self, timeout: float | None = None) -> None:
        """Wait until at least one bind is up."""
        waiters = [asyncio.ensure_future(s.bound_event.wait()) for s in self.sessions]
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise TimeoutError("no SMPP bind came up")
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def close(self, drain_timeout: float = 5.0) -> None:
        await asyncio.gather(*(s.close(drain_timeout) for s in self.sessions))
        for item in self._queue:
            item.future.cancel()
        self._queue.clear()

    def submit(self, frame: bytes) -> asyncio.Future[SubmitResult]:
        """Queue one encoded submit_sm (smpp.submit_sm_frame, or encode(SubmitSm(...))); the future resolves
        with the SMSC's final answer.

        Throttling and lost connections are retried inside the channel; the future only ever holds an
        accept or a permanent refusal.
        """
        future: asyncio.Future[SubmitResult] = self._loop.create_future()
        self._queue.append(PendingSubmit(frame, future))
        self._wake()
        return future

    def writable_now(self, segments: int) -> bool:
        """Whether `segments` submits would be written at once: nothing queued, and that much room in the binds
        (bound, not paused, window slots free; a message longer than every window together needs all of it)."""
        wanted = min(segments, sum(s.config.window for s in self.sessions))
        return not self._queue and sum(s.room for s in self.sessions) >= wanted

    async def writable(self, segments: int) -> None:
        """Wait until writable_now(segments): a rate-limited sender spends its grant by a write, not in a queue."""
        while not self.writable_now(segments):
            self._room.clear()
            await self._room.wait()

    @property
    def backlog(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return sum(s.in_flight for s in self.sessions)

    @property
    def bound(self) -> int:
        return sum(s.bound for s in self.sessions)

    def stats(self) -> SessionStats:
        """The binds' counters added up."""
        total = SessionStats()
        for session in self.sessions:
            for name in SessionStats.__slots__:  # type: ignore[attr-defined]
                setattr(total, name, getattr(total, name) + getattr(session.stats, name))
        return total

    def _wake(self) -> None:
        for session in self.sessions:
            if not self._queue:
                return
            session.pump()
