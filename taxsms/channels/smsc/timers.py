"""Many timed callbacks on few loop timers: one timer per millisecond bucket, not one per event."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any


class MillisecondTimers:
    """Run callback(a, b) after a delay rounded up to the millisecond; all due in one millisecond share a timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[int, list[tuple[Callable[[Any, Any], None], Any, Any]]] = {}
        self._handles: dict[int, asyncio.TimerHandle] = {}

    def schedule(self, delay: float, callback: Callable[[Any, Any], None], a: object, b: object) -> None:
        due = math.ceil((self._loop.time() + delay) * 1000)
        bucket = self._buckets.get(due)
        if bucket is None:
            bucket = self._buckets[due] = []
            self._handles[due] = self._loop.call_at(due / 1000, self._fire, due)
        bucket.append((callback, a, b))

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._buckets.clear()

    def _fire(self, due: int) -> None:
        self._handles.pop(due, None)
        for callback, a, b in self._buckets.pop(due, ()):
            callback(a, b)
