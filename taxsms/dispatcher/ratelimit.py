"""One TPS limit per SMSC link, shared by every worker process through Redis (GCRA in a Lua script).

It counts segments, not jobs. A worker asks for a few segments at a time (at most `burst`, about 5 ms of
traffic) and keeps a small local balance, so the limiter costs one round trip per few segments, not per
message, while any 1-second window holds at most rate + burst segments across all workers.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from redis.asyncio import Redis

from taxsms.queue.store import load_script

MAX_RATE = 100_000  # segments per second: the script's integer arithmetic stays exact up to here


def default_burst(rate: float) -> int:
    """Segments that may go at once: 5 ms of traffic, at least 1."""
    return max(1, math.floor(rate * 0.005))


class RateLimiter:
    """Take segments from the shared budget of one link; `clock` (seconds) defaults to Redis server time."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        rate: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        if not 0.001 <= rate <= MAX_RATE:
            raise ValueError(f"rate must be 0.001 to {MAX_RATE} segments a second, got {rate}")
        self.key = key
        self.rate = rate
        self._milli_rate = round(rate * 1000)  # the script counts in segments per 1,000 s, an integer
        self.burst = burst or default_burst(rate)
        self._clock = clock
        self._sleep = sleep
        self._script = redis.register_script(load_script("ratelimit", common=False))
        self._balance = 0
        self._lock = asyncio.Lock()
        self.waits = 0  # times a caller had to wait for the budget

    async def try_take(self, wanted: int) -> tuple[int, float]:
        """One round trip: (segments granted now, seconds to wait before asking again if none)."""
        now = "" if self._clock is None else str(int(self._clock() * 1_000_000))
        granted, wait_us = await self._script(keys=[self.key], args=[wanted, self._milli_rate, self.burst, now])
        return int(granted), int(wait_us) / 1_000_000

    async def acquire(self, segments: int, *, ahead: int = 0) -> None:
        """Wait until `segments` may be sent now (a message's parts go together).

        `ahead`: segments the caller will ask for next (its buffered jobs); asked for in the same round trip,
        up to `burst`, so a busy sender pays one round trip per `burst` segments.
        """
        async with self._lock:  # one waiter at a time keeps the order of the callers (priority order)
            while self._balance < segments:
                missing = segments - self._balance
                granted, wait = await self.try_take(max(missing, min(self.burst, missing + ahead)))
                if granted:
                    self._balance += granted
                else:
                    self.waits += 1
                    await self._sleep(wait)  # type: ignore[misc]
            self._balance -= segments

    def forfeit(self) -> None:
        """Give up the segments kept in hand (granted for earlier than now: spent late, they would bunch up)."""
        self._balance = 0
