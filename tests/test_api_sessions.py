"""Console logins against the governance operator book: the holes of the security audit, one test each."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Literal

import aiohttp
import pytest
from argon2 import PasswordHasher
from conftest import sender
from redis.asyncio import Redis
from test_api_support import (
    PASSWORD,
    RunningApi,
    add_operator,
    api_in_thread,
    operator_book,
    running_api,
    start_site,
)

from taxsms.api import ApiConfig, create_app
from taxsms.api.keys import ApiKeys
from taxsms.api.login_limits import BACKOFF_BASE_MS, PAIR_LIMIT, LoginLimits
from taxsms.api.sessions import COOKIE, CSRF_HEADER
from taxsms.governance.audit import Action, AuditLog
from taxsms.queue.jobs import Job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    async with running_api(redis, keys) as api:
        yield api


async def login(
    api: RunningApi, operator: str = "op1", password: str = PASSWORD, client: aiohttp.ClientSession | None = None
) -> aiohttp.ClientResponse:
    body = {"operator": operator, "password": password}
    return await (client or api.client).post(f"{api.url}/console/api/login", json=body)


async def actions(api: RunningApi, action: str) -> list[dict[str, object]]:
    return [
        {"actor": e.actor, **e.details} async for e in AuditLog(api.redis, api.keys).entries() if e.action == action
    ]


def client_from(address: str) -> aiohttp.ClientSession:
    """An HTTP client whose connections come from `address` (another loopback address: another machine)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_a_real_operator_from_the_operator_book_logs_in(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys, "E1003", unit="county-e1", name="赵敏")
    response = await login(api, "E1003")
    assert response.status == 200
    body = await response.json()
    assert (body["name"], body["unit"], body["unit_name"], body["level"]) == (
        "赵敏",
        "county-e1",
        "东市甲县税务局",
        "county",
    )
    assert body["roles"] == ["publisher", "staff12366"] and body["expires_at"] > 0
    assert [e["actor"] for e in await actions(api, Action.LOGIN)] == ["E1003"]


async def test_login_failures_are_counted_before_the_password_check_40_parallel_guesses(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys)
    responses = await asyncio.gather(*(login(api, password=f"guess-{n}") for n in range(40)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [401] * PAIR_LIMIT + [429] * (40 - PAIR_LIMIT)
    assert len(await actions(api, Action.LOGIN_FAILED)) == PAIR_LIMIT
    locked = await actions(api, Action.LOGIN_LOCKED)
    assert [e["actor"] for e in locked] == ["op1"] and locked[0]["address"] == "127.0.0.1"
    refused = await login(api)  # the right password, but this address backs off
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0


async def test_a_stranger_cannot_lock_the_owner_out(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys)
    for _ in range(PAIR_LIMIT + 3):
        await login(api, password="guess")
    assert (await login(api)).status == 429  # the stranger's address backs off...
    async with client_from("127.0.0.2") as owner:
        assert (await login(api, client=owner)).status == 200  # ...the owner's does not


async def test_back_off_ends_and_doubles(redis: Redis, keys: Keys) -> None:
    limits = LoginLimits(redis, ApiKeys(keys))
    now = 1_000_000.0
    for _ in range(PAIR_LIMIT):
        assert (await limits.attempt("op1", "10.1.1.1", now)).allowed
    refused = await limits.attempt("op1", "10.1.1.1", now + 1)
    assert not refused.allowed and refused.retry_after_s == BACKOFF_BASE_MS // 1000 - 1
    later = now + BACKOFF_BASE_MS / 1000 + 0.001
    assert (await limits.attempt("op1", "10.1.1.1", later)).allowed  # one more try after the back-off...
    again = await limits.attempt("op1", "10.1.1.1", later + 1)
    assert not again.allowed and again.retry_after_s == 2 * BACKOFF_BASE_MS // 1000 - 1  # ...then twice as long
    await limits.succeeded("op1", "10.1.1.1")
    assert (await limits.attempt("op1", "10.1.1.1", later + 2)).allowed  # a right password starts afresh


class GatedHasher(PasswordHasher):
    """Password checks that hold until the test opens the gate (as a slow argon2 would, without the clock)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.started.release()
        assert self.gate.wait(30), "the test never opened the gate"
        return super().verify(hash, password)


async def test_password_hashing_runs_off_the_event_loop_healthz_answers_under_60_logins(
    redis: Redis, redis_url: str, keys: Keys
) -> None:
    await operator_book(redis, keys)
    hasher = GatedHasher()
    clients = [client_from(f"127.0.0.{10 + n}") for n in range(4)]  # 15 logins per address: under its limit
    with api_in_thread(redis_url, keys, ApiConfig(plain_http=True), hasher=hasher) as (url, _):  # its own loop
        try:
            body = {"password": "wrong-password"}
            logins = [
                asyncio.create_task(clients[n % 4].post(f"{url}/console/api/login", json={"operator": f"x{n}", **body}))
                for n in range(60)
            ]
            assert await asyncio.to_thread(hasher.started.acquire, timeout=10), "no password check started"
            async with aiohttp.ClientSession() as probe:  # while the checks hang, the server still answers
                health = await asyncio.wait_for(probe.get(f"{url}/healthz"), 10)
                assert health.status == 200
            assert not any(task.done() for task in logins)
            hasher.gate.set()
            assert {(await task).status for task in logins} == {401}
        finally:
            hasher.gate.set()
            for client in clients:
                await client.close()


async def test_the_session_cookie_is_secure_unless_served_over_plain_http(redis: Redis, keys: Keys) -> None:
    await add_operator(redis, keys)
    for config, secure in ((ApiConfig(), True), (ApiConfig(plain_http=True), False)):
        runner, url = await start_site(create_app(redis, keys, config, hasher=PasswordHasher(1, 8, 1)))
        try:
            async with aiohttp.ClientSession() as client:
                response = await client.post(f"{url}/console/api/login", json={"operator": "op1", "password": PASSWORD})
                cookie = response.cookies[COOKIE]
                assert bool(cookie["secure"]) is secure and cookie["httponly"] and cookie["samesite"] == "Strict"
        finally:
            await runner.cleanup()


async def test_a_suspended_operators_session_dies_on_its_next_request(api: RunningApi) -> None:
    op = await add_operator(api.redis, api.keys, "E1003", unit="county-e1")
    assert (await login(api, "E1003")).status == 200
    assert (await api.client.get(f"{api.url}/console/api/session")).status == 200
    book = await operator_book(api.redis, api.keys)
    await book.suspend(await book.get("admin-county-e1"), op.id, "left the bureau")
    refused = await api.client.get(f"{api.url}/console/api/session")
    assert refused.status == 401 and (await refused.json())["error"] == "session_ended"
    await book.reinstate(await book.get("admin-county-e1"), op.id)
    assert (await api.client.get(f"{api.url}/console/api/session")).status == 401  # ended, not paused


async def test_a_removed_operators_session_dies(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys)
    assert (await login(api)).status == 200
    await api.redis.hdel(api.keys.operators, "op1")
    assert (await api.client.get(f"{api.url}/console/api/session")).status == 401


async def test_password_change_ends_the_other_sessions(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys)
    async with client_from("127.0.0.2") as elsewhere:
        assert (await login(api, client=elsewhere)).status == 200
        csrf = (await (await login(api)).json())["csrf"]
        change = {"old": PASSWORD, "new": "n3w-passw0rd"}
        wrong = await api.client.post(
            f"{api.url}/console/api/password", json={**change, "old": "nope"}, headers={CSRF_HEADER: csrf}
        )
        assert wrong.status == 403
        done = await api.client.post(f"{api.url}/console/api/password", json=change, headers={CSRF_HEADER: csrf})
        assert done.status == 200
        assert (await api.client.get(f"{api.url}/console/api/session")).status == 200  # this one renewed
        assert (await elsewhere.get(f"{api.url}/console/api/session")).status == 401  # the other ended
    assert (await login(api, password="n3w-passw0rd")).status == 200


async def test_a_county_operator_cannot_read_another_countys_job_nor_province_wide_counts(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys, "E1003", unit="county-e1")
    jobs = []
    for unit in ("county-e1", "county-e2"):
        send = await sender(api.redis, api.keys, unit)
        jobs += await send.jobs([Job(f"j{unit}", "filing_reminder", "13900000001", "请按期申报。")])
    assert await JobStore(api.redis, api.keys).enqueue(jobs) == 2
    assert (await login(api, "E1003")).status == 200
    assert (await api.client.get(f"{api.url}/console/api/jobs/jcounty-e1")).status == 200
    assert (await api.client.get(f"{api.url}/console/api/jobs/jcounty-e2")).status == 404
    dashboard = await (await api.client.get(f"{api.url}/console/api/dashboard")).json()
    assert dashboard["scope"] == "unit" and dashboard["unit"] == "county-e1"
    assert not {"counts", "lanes", "stats", "sent", "workers"} & set(dashboard)  # no province-wide figures


async def test_slash_less_console_redirects(api: RunningApi) -> None:
    response = await api.client.get(f"{api.url}/console", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/console/"
