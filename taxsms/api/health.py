"""Liveness and readiness: /healthz (the process answers), /readyz (Redis answers and some worker is bound).

Workers call `report_worker_health` every few seconds; /readyz is ready when one of them reported bound
SMPP binds within `worker_fresh_s`.
"""

from __future__ import annotations

import time

import msgspec
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from taxsms.api.errors import ApiError, json_response
from taxsms.api.keys import ApiKeys
from taxsms.api.routes import Route, RouteTable, error_reply, json_reply
from taxsms.api.state import API_KEYS, CONFIG, REDIS
from taxsms.dispatcher.heartbeat import report_worker_health

__all__ = ["report_worker_health", "worker_health"]
STALE_FORGET_S = 24 * 3600  # heartbeats of workers gone this long are removed


async def worker_health(redis: Redis, keys: ApiKeys, fresh_s: float) -> dict[str, int]:
    """{'workers': workers with a fresh heartbeat and some bind, 'binds': their binds}; forgets long-gone ones."""
    now, workers, binds, stale = time.time(), 0, 0, []
    for consumer, raw in (await redis.hgetall(keys.workers)).items():
        try:
            beat = msgspec.json.decode(raw)
            age, bound = now - float(beat["at"]), int(beat["binds"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            stale.append(consumer)
            continue
        if age <= fresh_s and bound > 0:
            workers, binds = workers + 1, binds + bound
        elif age > STALE_FORGET_S:
            stale.append(consumer)
    if stale:
        await redis.hdel(keys.workers, *stale)
    return {"workers": workers, "binds": binds}


async def healthz(request: web.Request) -> web.Response:
    """The process is alive."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready to take traffic: Redis answers PING and a worker reported bound binds recently."""
    redis = request.app[REDIS]
    try:
        await redis.ping()
        health = await worker_health(redis, request.app[API_KEYS], request.app[CONFIG].worker_fresh_s)
    except (RedisError, OSError) as exc:
        raise ApiError(503, "redis_unavailable", type(exc).__name__) from None
    if not health["workers"]:
        fresh = request.app[CONFIG].worker_fresh_s
        raise ApiError(503, "no_smsc_binds", f"no worker reported a bound SMPP bind in the last {fresh:g} s", **health)
    return json_response({"status": "ready", "redis": True, **health})


READY_SCHEMA = {
    "type": "object",
    "required": ["status", "redis", "workers", "binds"],
    "properties": {
        "status": {"type": "string"},
        "redis": {"type": "boolean"},
        "workers": {"type": "integer"},
        "binds": {"type": "integer"},
    },
}


def register_health_routes(table: RouteTable) -> None:
    ok = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    table.add(Route("GET", "/healthz", healthz, "Liveness", "health", responses={200: json_reply("Alive", ok)}))
    table.add(
        Route(
            "GET",
            "/readyz",
            readyz,
            "Readiness: Redis and SMSC binds",
            "health",
            responses={200: json_reply("Ready", READY_SCHEMA), 503: error_reply("Not ready, and why")},
        )
    )
