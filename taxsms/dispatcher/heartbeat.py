"""The worker's heartbeat: its SMPP binds (up and wanted), what is at the SMSC, and its send windows now, for
readiness checks (`/readyz`) and the console's dashboard (which shows the workers' view, not the API's)."""

from __future__ import annotations

import time

import msgspec
from redis.asyncio import Redis

from taxsms.dispatcher.windows import WindowPolicy
from taxsms.queue.keys import Keys


def window_states(windows: WindowPolicy, now: float) -> dict[str, dict[str, float | bool]]:
    """kind -> {open: now, next: when it next opens (0 when open, without a window, or unknown: no holiday data)}."""
    states: dict[str, dict[str, float | bool]] = {}
    for kind, window in windows.windows.items():
        is_open, opens = (True, 0.0) if window is None else window.status(now)
        states[kind.value] = {"open": is_open, "next": round(opens, 3)}
    return states


async def report_worker_health(
    redis: Redis,
    keys: Keys,
    consumer: str,
    binds: int,
    *,
    wanted: int = 0,
    in_flight: int = 0,
    windows: WindowPolicy | None = None,
) -> None:
    """Record that `consumer` has `binds` of `wanted` SMPP binds bound and `in_flight` submits at the SMSC now
    (a worker calls this every few seconds)."""
    now = time.time()
    beat: dict[str, object] = {"binds": binds, "at": round(now, 3), "wanted": wanted or binds, "in_flight": in_flight}
    if windows is not None:
        beat["windows"] = window_states(windows, now)
    await redis.hset(keys.workers, consumer, msgspec.json.encode(beat))
