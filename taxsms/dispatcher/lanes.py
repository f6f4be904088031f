"""What a worker holds: a bounded number of stream entries (Room), and the claimed ones by lane (LaneBuffer).

Every entry a worker reads, reclaims or still has in flight counts against its Room, so a campaign or a burst
of replies waits in Redis, where any worker can take it, not in one worker's memory where a crash would
strand it. Replies keep their precedence by a reserved share of the room that other lanes never use, and by
being served first out of the LaneBuffer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Protocol, TypeVar


class Room:
    """Up to `capacity` entries held at once, counted apart for replies and for the other lanes.

    The other lanes hold at most `capacity - reserved`, so replies always have `reserved` places; replies
    may also use whatever the others leave free. A reader reserve()s before it reads and release()s what
    it did not keep; a kept entry is released once it is settled.
    """

    def __init__(self, capacity: int, reserved: int) -> None:
        if not 0 <= reserved < capacity:
            raise ValueError(f"the reply share must be below the capacity, not {reserved} of {capacity}")
        self.capacity = capacity
        self.reserved = reserved
        self._held = {True: 0, False: 0}  # replies?: entries held
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def held(self) -> int:
        return self._held[True] + self._held[False]

    def free(self, *, replies: bool) -> int:
        """How many more entries a reader of replies (or of the other lanes) may take now."""
        total = self.capacity - self.held
        return max(0, total if replies else min(total, self.capacity - self.reserved - self._held[False]))

    async def reserve(self, wanted: int, *, replies: bool, minimum: int = 1) -> int:
        """Wait until at least `minimum` entries fit, then hold up to `wanted` of them; 0 once closed."""
        minimum = min(minimum, self.capacity - (0 if replies else self.reserved))
        while self.free(replies=replies) < minimum and not self._closed:
            self._changed.clear()
            await self._changed.wait()
        if self._closed:
            return 0
        taken = min(wanted, self.free(replies=replies))
        self._held[replies] += taken
        return taken

    def add(self, n: int) -> None:
        """Hold `n` entries that are ours already (our own pending ones, re-read at start), room or not."""
        self._held[False] += n

    def release(self, n: int = 1, *, replies: bool) -> None:
        self._held[replies] -= n
        self._changed.set()

    def close(self) -> None:
        """Wake every waiting reader with 0: the worker is stopping."""
        self._closed = True
        self._changed.set()


class HasLaneAndSize(Protocol):
    @property
    def lane(self) -> int: ...

    @property
    def segments(self) -> int: ...


T = TypeVar("T", bound=HasLaneAndSize)


class LaneBuffer(Generic[T]):
    """get() returns the oldest item of the most urgent non-empty lane (lane 0, replies, first)."""

    def __init__(self, lanes: int) -> None:
        self._queues: list[deque[T]] = [deque() for _ in range(lanes)]
        self.segments = 0  # segments of every buffered item (a hint for the rate limiter)
        self._ready = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues)

    def put(self, item: T) -> None:
        self._queues[item.lane].append(item)
        self.segments += item.segments
        self._ready.set()

    def get_nowait(self) -> T | None:
        """The next item to send, or None if the buffer is empty now."""
        for queue in self._queues:
            if queue:
                item = queue.popleft()
                self.segments -= item.segments
                return item
        return None

    async def get(self) -> T | None:
        """The next item to send, waiting for one; None once the buffer is closed and empty."""
        while (item := self.get_nowait()) is None:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return item

    def take_all(self) -> list[T]:
        """Empty the buffer: every item, most urgent lane first (what a worker hands back)."""
        items = [item for queue in self._queues for item in queue]
        for queue in self._queues:
            queue.clear()
        self.segments = 0
        return items

    def close(self) -> None:
        """No more puts (but the job a stopped sender gives back): get() drains what is left, then returns None."""
        self._closed = True
        self._ready.set()
