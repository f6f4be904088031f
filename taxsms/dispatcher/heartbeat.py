"""The worker's heartbeat: how many SMPP binds it has up, for readiness checks (`/readyz`) and ops."""

from __future__ import annotations

import time

import msgspec
from redis.asyncio import Redis

from taxsms.queue.keys import Keys


async def report_worker_health(redis: Redis, keys: Keys, consumer: str, binds: int) -> None:
    """Record that `consumer` has `binds` SMPP binds bound now (a worker calls this every few seconds)."""
    payload = msgspec.json.encode({"binds": binds, "at": round(time.time(), 3)})
    await redis.hset(keys.workers, consumer, payload)
