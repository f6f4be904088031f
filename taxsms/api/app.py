"""The aiohttp application factory: one route table, its guards, the middlewares, the app's state."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from argon2 import PasswordHasher
from redis.asyncio import Redis

from taxsms.api import state
from taxsms.api.auth import TokenStore, token_guard
from taxsms.api.campaigns import register_campaign_routes
from taxsms.api.config import ApiConfig
from taxsms.api.console import register_console_routes
from taxsms.api.directory import register_directory_routes
from taxsms.api.docs import register_docs_routes
from taxsms.api.errors import Handler, error_middleware
from taxsms.api.health import register_health_routes
from taxsms.api.jobs import register_job_routes
from taxsms.api.keys import ApiKeys
from taxsms.api.login_limits import LoginLimits
from taxsms.api.metrics import ApiMetrics, latency_middleware, register_metrics_routes
from taxsms.api.openapi import register_openapi_routes
from taxsms.api.routes import RouteTable
from taxsms.api.sessions import SessionStore, register_session_routes, session_guard
from taxsms.api.templates import register_template_routes
from taxsms.api.usage import register_usage_routes
from taxsms.governance.admission import Gate
from taxsms.governance.audit import AuditLog
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.templates import review

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Cache-Control": "no-store",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    for name, value in SECURITY_HEADERS.items():  # a handler may set its own (the docs page's CSP)
        response.headers.setdefault(name, value)
    return response


def build_routes(config: ApiConfig) -> RouteTable:
    """Every route of the app."""
    table = RouteTable()
    register_health_routes(table)
    register_metrics_routes(table)
    register_openapi_routes(table)
    register_docs_routes(table)
    register_job_routes(table, config.bulk_max)
    register_campaign_routes(table)
    register_usage_routes(table)
    register_template_routes(table)
    register_directory_routes(table)
    register_session_routes(table)
    register_console_routes(table)
    return table


def create_app(
    redis: Redis,
    keys: Keys,
    config: ApiConfig | None = None,
    *,
    hasher: PasswordHasher | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The HTTP API and console on `redis` under `keys`' prefix. The caller owns (and closes) `redis`.

    `hasher`: the argon2 parameters for passwords set through the console (tests pass cheap ones).
    `clock`: the epoch seconds API tokens' rate limit counts by (tests pass one they move).
    """
    config = config or ApiConfig()
    api_keys = ApiKeys(keys)
    app = web.Application(
        client_max_size=config.client_max_size, middlewares=[security_headers, latency_middleware, error_middleware]
    )
    app[state.REDIS] = redis
    app[state.KEYS] = keys
    app[state.API_KEYS] = api_keys
    app[state.CONFIG] = config
    app[state.STORE] = JobStore(redis, keys)
    app[state.GATE] = Gate(redis, keys)
    app[state.TOKENS] = TokenStore(redis, api_keys, clock=clock)
    app[state.SESSIONS] = SessionStore(redis, api_keys, config.session_idle_s, config.session_max_s)
    app[state.LOGIN_LIMITS] = LoginLimits(redis, api_keys)
    app[state.HASHER] = hasher or PasswordHasher()
    app[state.AUDIT] = AuditLog(redis, keys)
    app[state.METRICS] = ApiMetrics()
    app[state.WINDOWS] = config.windows
    table = build_routes(config)
    app[state.ROUTES] = table
    table.install(app, {"token": token_guard, "session": session_guard})
    app.on_startup.append(_prepare_review)
    return app


async def _prepare_review(_app: web.Application) -> None:
    """The content review's folding tables before the first request (else the first job POST waits ~0.1 s)."""
    review.prepare()
