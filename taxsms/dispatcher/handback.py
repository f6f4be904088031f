"""Handing back: a worker with no SMPP bind up gives the jobs it claimed to the workers whose binds are up.

While none of its binds is up a worker reads and reclaims nothing: it would only hoard jobs that others can
send. Once none has been up for `handback_after_s`, the claimed jobs still in its lane buffer are handed back
(JobStore.hand_back: made reclaimable at once; their record stays 'submitting' with the quota it holds, as a
dead worker's would). Those already handed to its binds stay: at the SMSC their outcome is unknown, and they
are resent when a bind is up again (at most one window per bind, as before). Every worker whose binds are up
looks every TAKE_S whether more were handed back (a counter per shard) and if so reclaims them in a pass of its
own, as it reclaims a dead worker's entries, not claim_idle_s later.
"""

from __future__ import annotations

import asyncio

from taxsms.channels.pool import SmppPool

WATCH_S = 0.25  # how often a worker looks whether its binds are all down (at most; half the grace if shorter)
TAKE_S = 0.5  # how often a worker with a bind up looks whether jobs were handed back


class Outage:
    """Whether all binds have been down for `grace_s`, from what the caller sees now and then (pure)."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.since: float | None = None  # when no bind was seen up, first, in this outage

    def due(self, bound: int, now: float) -> bool:
        """`bound` binds are up at `now` (monotonic seconds): whether none has been up for grace_s or more."""
        if bound:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since >= self.grace_s


async def until_bound(pool: SmppPool, stopping: asyncio.Event) -> bool:
    """Wait until a bind of `pool` is up (at once if one is); False if `stopping` is set first."""
    if pool.bound:
        return True
    waiters = [asyncio.ensure_future(pool.wait_bound()), asyncio.ensure_future(stopping.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return not stopping.is_set()
