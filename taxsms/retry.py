"""One way to wait before trying again: exponential back-off with jitter.

Every loop that retries something that failed (Redis away, an SMSC link down, a webhook refusing) keeps a
`Backoff`: `await backoff.wait()` sleeps the next delay (growing by `factor` up to `maximum`, each spread by
`jitter` so that many processes failing together do not come back in step), `backoff.reset()` after a
success starts again from `initial`. `retry()` wraps the common case of one call retried until it works.
Sleep and randomness are injectable, so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[object]]


class Backoff:
    """Delays initial, initial*factor, ... up to maximum, each multiplied by a random factor in
    [1 - jitter, 1 + jitter] (jitter 0: exact delays)."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.5,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"back-off needs 0 < initial <= maximum, not {initial} and {maximum}")
        if factor < 1 or not 0 <= jitter < 1:
            raise ValueError("back-off factor must be >= 1 and jitter in [0, 1)")
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self._sleep, self._rand = sleep, rand
        self._base = initial
        self.failures = 0  # waits since the last reset()

    def reset(self) -> None:
        """The retried thing worked: the next failure waits `initial` again."""
        self._base = self.initial
        self.failures = 0

    def next_delay(self) -> float:
        """The delay to wait now (with jitter); the one after it grows."""
        delay = self._base * (1 - self.jitter + 2 * self.jitter * self._rand())
        self._base = min(self._base * self.factor, self.maximum)
        self.failures += 1
        return delay

    async def wait(self, stopping: asyncio.Event | None = None) -> bool:
        """Sleep the next delay, or less if `stopping` is set meanwhile; True if it is set (stop retrying)."""
        delay = self.next_delay()
        if stopping is None:
            await self._sleep(delay)
            return False
        if stopping.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        return stopping.is_set()


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    on: tuple[type[BaseException], ...],
    backoff: Backoff,
    what: str = "call",
    on_failure: Callable[[BaseException], object] | None = None,
    stopping: asyncio.Event | None = None,
) -> T:
    """Run `call` until it does not raise one of `on`, waiting backoff.wait() between tries (logged).

    Other errors propagate, and so does the last retried one once `stopping` is set (the caller is shutting
    down). `on_failure` hears of each retried error (e.g. to note that Redis was away).
    """
    while True:
        try:
            result = await call()
        except on as exc:
            if on_failure is not None:
                on_failure(exc)
            if stopping is not None and stopping.is_set():
                raise
            log.warning("%s failed (%s); retrying (attempt %d)", what, exc, backoff.failures + 1)
            if await backoff.wait(stopping):
                raise
        else:
            backoff.reset()
            return result
