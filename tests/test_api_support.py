"""Helpers for the API tests (no tests here): run the app on a real TCP port against the session's Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import aiohttp
import msgspec
from aiohttp import web
from argon2 import PasswordHasher
from redis.asyncio import Redis

from taxsms.api import ApiConfig, create_app
from taxsms.api.auth import TokenStore, digest
from taxsms.api.keys import ApiKeys
from taxsms.governance.operators import Operator, OperatorBook
from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.keys import Keys

TEXT = "【某市税务局】您本月增值税申报期限为15日，请及时申报。"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "s3cret-pass"
ALL_KINDS = {"filing_reminder", "overdue_filing", "overdue_payment", "notice", "internal", "reply"}
EXTRA_UNITS = UnitTree.from_toml(
    """
[[unit]]
id = "prov"
name = "省税务局"
level = "province"
[[unit]]
id = "city-01"
name = "某市税务局"
level = "city"
parent = "prov"
[[unit]]
id = "county-0101"
name = "某市甲县税务局"
level = "county"
parent = "city-01"
[[unit]]
id = "city-02"
name = "另市税务局"
level = "city"
parent = "prov"
[[unit]]
id = "county-9999"
name = "另市乙县税务局"
level = "county"
parent = "city-02"
"""
)
#: The example tree (prov > city-east > county-e1 ...) plus the API tests' city-01 (某市税务局) > county-0101
#: and city-02 > county-9999.
UNITS = UnitTree([*UnitTree.from_file(), *(unit for unit in EXTRA_UNITS if unit.id != "prov")])


def job(i: int | str, **extra: object) -> dict[str, object]:
    return {
        "id": f"j{i}",
        "kind": "filing_reminder",
        "to": f"139{int(str(i).lstrip('x') or 0) % 10**8:08d}",
        "recipient_unit": "city-01",
        "text": TEXT,
        **extra,
    }


async def seed_units(redis: Redis, keys: Keys) -> None:
    """The API tests' unit tree (UNITS)."""
    await save_units(redis, keys, UNITS)


def encode(value: object) -> bytes:
    return msgspec.json.encode(value)


@dataclass
class RunningApi:
    url: str
    token: str
    client: aiohttp.ClientSession
    redis: Redis
    keys: Keys
    app: web.Application

    def stored(self, job_id: str, token: str | None = None) -> str:
        """The id a job posted with `token` has in the store (namespaced by the token)."""
        return f"{digest(token or self.token)[:16]}/{job_id}"

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def post_jobs(self, body: object, token: str | None = None, **kwargs: object) -> aiohttp.ClientResponse:
        data = body if isinstance(body, bytes) else encode(body)
        headers = {"Content-Type": "application/json", **self.auth(token)}
        return await self.client.post(f"{self.url}/v1/jobs", data=data, headers=headers, **kwargs)

    async def token_for(self, unit: str = "city-01", kinds: set[str] | None = None, **extra: object) -> str:
        secret, _ = await TokenStore(self.redis, ApiKeys(self.keys)).create(unit, kinds or ALL_KINDS, **extra)
        return secret


async def start_site(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def running_api(
    redis: Redis, keys: Keys, config: ApiConfig | None = None, *, clock: Callable[[], float] = time.time
) -> AsyncIterator[RunningApi]:
    """The app on a free port (over plain HTTP), an HTTP client with a cookie jar, and a token for unit city-01
    (every kind). `clock`: the app's, for its token rate limit."""
    await seed_units(redis, keys)
    config = dataclasses.replace(config or ApiConfig(), plain_http=True)  # the client's jar holds Secure cookies back
    app = create_app(redis, keys, config, hasher=FAST_HASHER, clock=clock)
    runner, url = await start_site(app)
    secret, _ = await TokenStore(redis, ApiKeys(keys)).create("city-01", ALL_KINDS, {"city-01", "county-0101"})
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as client:
        try:
            yield RunningApi(url, secret, client, redis, keys, app)
        finally:
            await runner.cleanup()


async def operator_book(redis: Redis, keys: Keys) -> OperatorBook:
    """The API tests' unit tree (the example tree, plus city-01 ...) stored, and an operator book on it."""
    await save_units(redis, keys, UNITS)
    return OperatorBook(redis, keys, UNITS, hasher=FAST_HASHER)


async def add_operator(
    redis: Redis, keys: Keys, operator: str = "op1", password: str = PASSWORD, unit: str = "prov", **extra: object
) -> Operator:
    """An operator of `unit` (张三, publisher and 12366 staff unless `roles=`), added by its unit's admin; the
    admins down from the province (P001, admin-city-east, ...) are created as needed, password PASSWORD."""
    book = await operator_book(redis, keys)
    actor = await book.find("P001") or await book.bootstrap("P001", "王省", PASSWORD)
    for step in book.tree.path(unit)[1:]:
        admin_id = f"admin-{step.id}"
        actor = await book.find(admin_id) or await book.add(actor, admin_id, "李管", step.id, ["admin"], PASSWORD)
    roles = extra.get("roles", ["publisher", "staff12366"])
    return await book.add(actor, operator, str(extra.get("name", "张三")), unit, roles, password)  # type: ignore[arg-type]


@contextmanager
def api_in_thread(
    redis_url: str, keys: Keys, config: ApiConfig | None = None, hasher: PasswordHasher = FAST_HASHER
) -> Iterator[tuple[str, str]]:
    """The app served from its own thread and loop (for synchronous clients); yields (url, token)."""
    loop = asyncio.new_event_loop()
    started: dict[str, object] = {}
    ready = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        redis = Redis.from_url(redis_url)
        await seed_units(redis, keys)
        runner, url = await start_site(create_app(redis, keys, config, hasher=hasher))
        secret, _ = await TokenStore(redis, ApiKeys(keys)).create("city-01", ALL_KINDS, {"city-01"})
        started.update(url=url, token=secret)
        ready.set()
        await stop.wait()
        await runner.cleanup()
        await redis.aclose()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "API did not start"
    try:
        yield str(started["url"]), str(started["token"])
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
