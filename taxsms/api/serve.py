"""Run the HTTP API and console until cancelled (SIGINT/SIGTERM in `taxsms serve`)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from taxsms.api.app import create_app
from taxsms.api.config import ApiConfig
from taxsms.privacy import PhoneMaskingFilter
from taxsms.queue.connect import connect, keys_for

log = logging.getLogger(__name__)
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tf'  # no headers (tokens, cookies) and no query strings with phones


def _mask_logs() -> logging.Logger:
    """Mask phone numbers in everything the process logs (filters on the root handlers see every record)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, PhoneMaskingFilter) for f in handler.filters):
            handler.addFilter(PhoneMaskingFilter())
    return logging.getLogger("aiohttp.access")


async def serve(
    host: str,
    port: int,
    redis_url: str,
    prefix: str,
    config: ApiConfig | None = None,
    *,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve on host:port until cancelled; `ready` is set once listening."""
    redis = connect(redis_url)
    runner = web.AppRunner(
        create_app(redis, keys_for(redis, prefix), config), access_log=_mask_logs(), access_log_format=ACCESS_LOG_FORMAT
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=512)
        await site.start()
        log.warning("taxsms API listening on http://%s:%d (prefix %s)", host, port, prefix)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await redis.aclose()
