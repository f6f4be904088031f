"""Coalesce many small writes into one Redis round trip, retrying (never dropping) when Redis is away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from taxsms.queue.connect import RETRYABLE
from taxsms.retry import Backoff
from taxsms.tasks import cancel_and_wait

log = logging.getLogger(__name__)
T = TypeVar("T")


class BatchWriter(Generic[T]):
    """add() returns a future resolved once the item is written by `write`, in a batch with its neighbours.

    While one batch is being written the next one accumulates, so batches grow with load and a single
    item waits for at most one round trip. A write that fails because Redis is unreachable is retried
    with back-off, holding its items; any other error fails that batch's futures.
    """

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        max_batch: int = 1000,
        name: str = "writer",
        retry_min: float = 0.05,
        retry_max: float = 2.0,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._name = name
        self._backoff = Backoff(retry_min, retry_max)
        self._items: list[tuple[T, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"batch-{self._name}")

    def add(self, item: T) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        self._items.append((item, future))
        self._wakeup.set()
        return future

    @property
    def pending(self) -> int:
        return len(self._items)

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is buffered (for up to `timeout` seconds), then stop."""
        deadline = self._loop.time() + timeout
        while self._items and self._loop.time() < deadline and self._task and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task is not None:
            await cancel_and_wait(self._task)  # cancelled mid-write, a plain cancel() can be lost (taxsms/tasks.py)
        for _, future in self._items:
            future.cancel()
        self._items.clear()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._items:
                batch = self._items[: self._max_batch]
                try:
                    await self._write([item for item, _ in batch])
                except RETRYABLE as exc:
                    log.warning("%s: Redis unavailable (%s); retrying", self._name, exc)
                    await self._backoff.wait()
                    continue
                except Exception as exc:
                    log.exception("%s: batch write failed", self._name)
                    del self._items[: len(batch)]
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self._backoff.reset()
                del self._items[: len(batch)]
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
