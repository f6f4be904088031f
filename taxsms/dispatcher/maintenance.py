"""The worker's periodic chores, each a small task of its own with its own interval.

Every worker runs each of them (the scripts make a second run harmless): release delayed jobs whose time
has come, end submitted jobs that never got a receipt, report its binds (the heartbeat `/readyz` reads),
sum the units' quotas across the shards, reload the reviewed template catalog. A chore that finds Redis
away logs it and tries again next round; none stops the worker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from taxsms.dispatcher.redis_calls import RedisCalls

HEALTH_S = 5.0  # how often the worker reports its binds, in flight and send windows
UNCONFIRMED_S = 5.0  # how often submitted jobs past their receipt timeout are ended
QUOTAS_S = 5.0  # how often a cluster's per-shard quota use is summed
CATALOG_S = 5.0  # how often the reviewed template catalog is read again


@dataclass(frozen=True, slots=True)
class Chore:
    """`call()` every `every_s` seconds, first `first_s` after the start; `what` names it in the log."""

    name: str
    what: str
    every_s: float
    call: Callable[[], Awaitable[object]]
    first_s: float


async def run_chore(chore: Chore, calls: RedisCalls) -> None:
    """Run `chore` until the worker stops; a round that finds Redis away is logged and skipped."""
    wait = chore.first_s
    while not await calls.pause(wait):
        await calls.attempt(chore.what, chore.call)
        wait = chore.every_s
