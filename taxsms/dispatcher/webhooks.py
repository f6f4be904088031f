"""Relay job events to an upstream webhook: batched, HMAC-signed, retried with back-off, off the send path.

The relay is its own consumer group on the events stream (`taxsms webhook`), so a slow or dead upstream
endpoint never holds up dispatching: events wait in Redis and are posted, in order, once it answers 2xx.
The body is a JSON array of events; the signature is HMAC-SHA256 over "<timestamp>.<body>" with the shared
secret, sent as `X-Taxsms-Signature: sha256=<hex>` with `X-Taxsms-Timestamp` (reject old timestamps to stop
replays). Delivery is at least once: each event carries its `event_id` (the stream entry id) for dedupe.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

import aiohttp
import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from taxsms.queue.connect import RETRYABLE
from taxsms.queue.keys import Keys
from taxsms.retry import Backoff

log = logging.getLogger(__name__)
GROUP = "webhook"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-Taxsms-Signature value for `body` sent at `timestamp`."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *, max_age_s: float = 300.0) -> bool:
    """What a receiving upstream system should check (constant-time compare, fresh timestamp)."""
    fresh = abs(time.time() - float(timestamp)) <= max_age_s
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookRelay:
    """Post events from the events stream to `url` in batches, acking each batch only after a 2xx."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        url: str,
        secret: str,
        *,
        consumer: str = "relay",
        batch: int = 500,
        timeout_s: float = 10.0,
        retry_min_s: float = 0.5,
        retry_max_s: float = 60.0,
    ) -> None:
        self._redis, self._keys, self._url = redis, keys, url
        self._secret = secret.encode()
        self._consumer, self._batch = consumer, batch
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retry = (retry_min_s, retry_max_s)
        self._stopping = asyncio.Event()
        self.posted = 0
        self.failures = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Relay every shard's events stream (one reader each) until stop()."""
        streams = [shard.events for shard in self._keys.every_shard()]
        for stream in streams:
            try:
                await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        async with aiohttp.ClientSession(timeout=self._timeout) as http:
            await asyncio.gather(*(self._relay(http, stream) for stream in streams))

    async def _relay(self, http: aiohttp.ClientSession, stream: str) -> None:
        pending = True  # first what we read before a restart but never posted
        redis_backoff = Backoff(0.5, 5.0)
        while not self._stopping.is_set():
            try:
                reply = await self._redis.xreadgroup(
                    GROUP, self._consumer, {stream: "0" if pending else ">"},
                    count=self._batch, block=None if pending else 500,
                )  # fmt: skip
            except RETRYABLE:
                await redis_backoff.wait(self._stopping)
                continue
            redis_backoff.reset()
            entries = [(eid, fields) for _, items in reply or () for eid, fields in items if fields]
            if pending and not entries:
                pending = False
                continue
            if entries:
                await self._deliver(http, stream, entries)

    async def _deliver(self, http: aiohttp.ClientSession, stream: str, entries: list) -> None:  # type: ignore[type-arg]
        events = [
            {"event_id": eid.decode(), **{k.decode(): v.decode() for k, v in fields.items()}} for eid, fields in entries
        ]
        body = msgspec.json.encode(events)
        backoff = Backoff(*self._retry)
        while not self._stopping.is_set():
            stamp = f"{time.time():.0f}"
            headers = {
                "Content-Type": "application/json",
                "X-Taxsms-Timestamp": stamp,
                "X-Taxsms-Signature": sign(self._secret, stamp, body),
            }
            try:
                async with http.post(self._url, data=body, headers=headers) as response:
                    if 200 <= response.status < 300:
                        await self._redis.xack(stream, GROUP, *(eid for eid, _ in entries))
                        self.posted += len(events)
                        return
                    log.warning("webhook answered %d; retrying", response.status)
            except (aiohttp.ClientError, TimeoutError, *RETRYABLE) as exc:
                log.warning("webhook unreachable (%s); retrying", exc)
            self.failures += 1
            await backoff.wait(self._stopping)
