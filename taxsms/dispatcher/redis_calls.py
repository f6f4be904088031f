"""How the worker calls Redis: wait out an outage (the batch is held), or try once (a periodic chore)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from taxsms.queue.connect import RETRYABLE
from taxsms.queue.store import JobStore, lost_groups
from taxsms.retry import Backoff, retry

log = logging.getLogger(__name__)
T = TypeVar("T")


class Stopping(Exception):
    """stop() was called while a Redis call was waiting for Redis to come back."""


class GroupsRecreated(Exception):
    """Redis had lost the consumer groups; they are re-created and the call is to be tried again."""


class RedisCalls:
    """Store calls that survive Redis going away, and the worker's stop signal they give way to."""

    def __init__(self, store: JobStore, on_failure: Callable[[], None]) -> None:
        """`on_failure` counts each failed call (the worker's redis_errors)."""
        self.store = store
        self.stopping = asyncio.Event()
        self.failed_at = -math.inf  # time.monotonic() of the last failed call
        self._on_failure = on_failure

    def failed(self) -> None:
        """Note that Redis was unreachable just now (live peers may have missed their refreshes too)."""
        self.failed_at = time.monotonic()
        self._on_failure()

    async def wait_out(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`call(*args)`, waiting out a Redis outage (the batch is held, nothing is dropped).

        Raises Stopping if stop() is called while Redis is away (what the call was for stays pending).
        """
        try:
            return await retry(
                partial(self._regrouping, call, *args),
                on=(*RETRYABLE, GroupsRecreated),
                backoff=Backoff(0.05, 2.0),
                what="Redis call",
                on_failure=lambda _exc: self.failed(),
                stopping=self.stopping,
            )
        except (*RETRYABLE, GroupsRecreated) as exc:
            raise Stopping from exc

    async def attempt(self, what: str, call: Callable[..., Awaitable[T]], *args: Any) -> T | None:
        """One attempt of a periodic call; None (logged) if Redis is away, the next round tries again."""
        try:
            return await self._regrouping(call, *args)
        except (*RETRYABLE, GroupsRecreated) as exc:
            self.failed()
            log.warning("Redis unavailable while %s (%s); trying again", what, exc)
            return None

    async def _regrouping(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`call(*args)`; if Redis lost the consumer groups (restarted without its data), re-create them."""
        try:
            return await call(*args)
        except ResponseError as exc:
            if not lost_groups(exc):
                raise
            log.error("Redis has lost the consumer groups (restarted without its data?); re-creating them: %s", exc)
            await self.store.ensure_group()
            raise GroupsRecreated(str(exc)) from exc

    async def pause(self, seconds: float) -> bool:
        """Sleep `seconds`, or less if stop() is called meanwhile; True if the worker is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()
