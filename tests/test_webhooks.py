"""The webhook relay against a real aiohttp server: signed batches, retries, nothing lost."""

from __future__ import annotations

import asyncio

from aiohttp import web
from conftest import wait_until
from redis.asyncio import Redis

from taxsms.dispatcher.webhooks import WebhookRelay, verify
from taxsms.queue.keys import Keys

SECRET = "s3cret"


async def test_events_are_posted_signed_and_retried_until_accepted(redis: Redis, keys: Keys) -> None:
    received: list[dict[str, str]] = []
    calls = {"n": 0}

    async def hook(request: web.Request) -> web.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return web.Response(status=503)  # the upstream system is down for a while
        body = await request.read()
        ok = verify(SECRET.encode(), request.headers["X-Taxsms-Timestamp"], body, request.headers["X-Taxsms-Signature"])
        if not ok:
            return web.Response(status=401)
        received.extend(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    for i in range(5):
        await redis.xadd(keys.events, {"job": f"j{i}", "state": "delivered", "at": "1", "detail": ""})
    relay = WebhookRelay(redis, keys, f"http://127.0.0.1:{port}/hook", SECRET, retry_min_s=0.05)
    task = asyncio.create_task(relay.run())
    await wait_until(lambda: len(received) == 5, timeout=10)
    relay.stop()
    await task
    await runner.cleanup()
    assert [e["job"] for e in received] == [f"j{i}" for i in range(5)]
    assert all(e["event_id"] for e in received)
    assert relay.failures == 2
    assert (await redis.xpending(keys.events, "webhook"))["pending"] == 0


def test_a_forged_or_stale_signature_is_refused() -> None:
    body = b'[{"job":"x"}]'
    assert not verify(SECRET.encode(), "1", body, "sha256=00")
