"""The worker's small local buffer of claimed jobs, one queue per priority lane, most urgent served first.

Bulk lanes are bounded (the reader waits for room, so a 100,000-message campaign sits in Redis, not here);
the reply lane is not, so an auto-reply never waits behind a campaign: it is next out of the buffer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Protocol, TypeVar


class HasLaneAndSize(Protocol):
    @property
    def lane(self) -> int: ...

    @property
    def segments(self) -> int: ...


T = TypeVar("T", bound=HasLaneAndSize)


class LaneBuffer(Generic[T]):
    """get() returns the oldest item of the most urgent non-empty lane; lanes >= 1 share `capacity`."""

    def __init__(self, lanes: int, capacity: int) -> None:
        self._queues: list[deque[T]] = [deque() for _ in range(lanes)]
        self.capacity = capacity
        self._bulk = 0  # items in lanes >= 1
        self.segments = 0  # segments of every buffered item (a hint for the rate limiter)
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues)

    @property
    def room(self) -> int:
        """How many more bulk items fit."""
        return max(0, self.capacity - self._bulk)

    def put(self, item: T) -> None:
        self._queues[item.lane].append(item)
        self.segments += item.segments
        if item.lane:
            self._bulk += 1
            if self._bulk >= self.capacity:
                self._room.clear()
        self._ready.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    async def get(self) -> T | None:
        """The next item to send; None once the buffer is closed and empty."""
        while True:
            for queue in self._queues:
                if queue:
                    item = queue.popleft()
                    self.segments -= item.segments
                    if item.lane:
                        self._bulk -= 1
                        if self._bulk < self.capacity:
                            self._room.set()
                    return item
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()

    def close(self) -> None:
        """No more puts: get() drains what is left, then returns None."""
        self._closed = True
        self._ready.set()
        self._room.set()
