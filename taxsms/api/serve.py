"""Run the HTTP API and console until cancelled (SIGINT/SIGTERM in `taxsms serve`)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from taxsms.api.app import create_app
from taxsms.api.config import ApiConfig
from taxsms.queue.connect import connect, keys_for

log = logging.getLogger(__name__)
ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tf'  # no headers (tokens, cookies) and no query strings with phones


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
    app = create_app(redis, keys_for(redis, prefix), config)
    access = logging.getLogger("aiohttp.access")  # masked by the handler runtime.setup_logging installs
    runner = web.AppRunner(app, access_log=access, access_log_format=ACCESS_LOG_FORMAT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=512)
        await site.start()
        log.info("taxsms API listening on http://%s:%d (prefix %s)", host, port, prefix)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await redis.aclose()
