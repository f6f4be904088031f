"""Refusals: API tokens (missing, unknown, out of scope, rate limited), console sessions and CSRF."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from test_api_support import RunningApi, add_operator, job, operator_book, running_api

from taxsms.api import ApiConfig
from taxsms.api.auth import digest
from taxsms.api.cli import add_commands, create_token
from taxsms.api.sessions import COOKIE, CSRF_HEADER
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    async with running_api(redis, keys, ApiConfig(rate_limit=30)) as api:
        yield api


async def test_requests_without_a_valid_token_are_refused(api: RunningApi) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, api.auth("tsk_not-a-real-token")):
        response = await api.client.post(f"{api.url}/v1/jobs", json=job(1), headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        body = await response.json()
        assert body["error"] == "unauthorized" and body["detail"]
    assert await JobStore(api.redis, api.keys).job(api.stored("j1")) is None


async def test_token_is_stored_hashed_and_revocable(api: RunningApi, redis_url: str) -> None:
    await add_operator(api.redis, api.keys)  # and the bootstrap province admin P001, who issues the token
    admin = await (await operator_book(api.redis, api.keys)).get("P001")
    secret, token_id = await create_token(api.redis, api.keys, admin, "city-01", {"filing_reminder"})
    stored = [key async for key in api.redis.scan_iter(f"{api.keys.control}:api:token:*")]
    assert f"{api.keys.control}:api:token:{digest(secret)}".encode() in stored
    async for key in api.redis.scan_iter(f"{{{api.keys.prefix}[}}:]*"):
        kind = await api.redis.type(key)
        values = await api.redis.hgetall(key) if kind == b"hash" else {}
        assert secret.encode() not in key and all(secret.encode() not in v for v in values.values())
    assert (await api.post_jobs(job(1), token=secret)).status == 202
    from taxsms.api.auth import TokenStore
    from taxsms.api.keys import ApiKeys

    assert await TokenStore(api.redis, ApiKeys(api.keys)).revoke(token_id)
    assert (await api.post_jobs(job(2), token=secret)).status == 401


async def test_kind_outside_the_token_scope_is_forbidden(api: RunningApi) -> None:
    token = await api.token_for("city-01", {"filing_reminder"})
    response = await api.post_jobs(job(1, kind="overdue_payment"), token=token)
    assert response.status == 403
    body = await response.json()
    assert body["error"] == "forbidden" and body["detail"].startswith("kind:")
    bulk = await api.post_jobs([job(2), job(3, kind="reply")], token=token)
    result = await bulk.json()
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert result["errors"][0] | {"reason": ""} == {
        "index": 1, "field": "kind", "reason": "", "id": "j3", "error": "forbidden"
    }  # fmt: skip


async def test_recipient_unit_and_issuing_unit_must_be_in_scope(api: RunningApi) -> None:
    inside = await api.post_jobs(job(1, recipient_unit="county-0101"))
    assert inside.status == 202
    outside = await api.post_jobs(job(2, recipient_unit="county-9999"))
    assert outside.status == 403
    assert (await outside.json())["detail"].startswith("recipient_unit:")
    other_unit = await api.post_jobs(job(3, unit="prov"))
    assert other_unit.status == 403
    assert (await other_unit.json())["detail"].startswith("unit:")


async def test_rate_limit_per_token(redis: Redis, keys: Keys) -> None:
    now = [1_800_000_000.5]  # the app's clock: one second lasts as long as the test says, however slow the machine
    async with running_api(redis, keys, ApiConfig(rate_limit=30), clock=lambda: now[0]) as api:

        async def usage(token: str | None = None) -> int:
            return (await api.client.get(f"{api.url}/v1/usage", headers=api.auth(token))).status

        assert [await usage() for _ in range(31)] == [200] * 30 + [429]
        limited = await api.client.get(f"{api.url}/v1/usage", headers=api.auth())
        assert limited.status == 429 and limited.headers["Retry-After"] == "1"
        assert (await limited.json())["error"] == "rate_limited"
        other = await api.token_for("city-01")
        assert await usage(other) == 200  # each token has its own count
        now[0] += 1
        assert await usage() == 200  # the next second counts afresh


async def login(api: RunningApi, password: str = "s3cret-pass") -> dict[str, object]:
    response = await api.client.post(f"{api.url}/console/api/login", json={"operator": "op1", "password": password})
    return {"status": response.status, "body": await response.json(), "cookie": response.headers.get("Set-Cookie")}


async def test_console_login_sets_a_strict_httponly_cookie(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys)
    assert (await api.client.get(f"{api.url}/console/api/session")).status == 401
    wrong = await login(api, "wrong")
    assert wrong["status"] == 401
    result = await login(api)
    assert result["status"] == 200
    cookie = str(result["cookie"])
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = await (await api.client.get(f"{api.url}/console/api/session")).json()
    assert session["name"] == "张三" and session["csrf"] == result["body"]["csrf"]  # type: ignore[index]


async def test_state_changing_console_requests_need_the_csrf_token(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys)
    csrf = (await login(api))["body"]["csrf"]  # type: ignore[index]
    for headers in ({}, {CSRF_HEADER: "forged"}):
        refused = await api.client.post(f"{api.url}/console/api/logout", headers=headers)
        assert refused.status == 403
        assert (await refused.json())["error"] == "csrf"
    assert (await api.client.get(f"{api.url}/console/api/session")).status == 200  # still logged in
    done = await api.client.post(f"{api.url}/console/api/logout", headers={CSRF_HEADER: str(csrf)})
    assert done.status == 200
    assert (await api.client.get(f"{api.url}/console/api/session")).status == 401


async def test_repeated_failed_logins_lock_the_operator(api: RunningApi) -> None:
    await add_operator(api.redis, api.keys)
    statuses = [(await login(api, "guess"))["status"] for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert (await login(api))["status"] == 429


def test_cli_commands_parse() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["api-token", "create", "--unit", "city-01", "--kinds", "notice,reply", "--as", "a1"])
    assert args.unit == "city-01" and args.kinds == "notice,reply" and callable(args.handler)
    args = parser.parse_args(["serve", "--port", "9000", "--prefix", "p"])
    assert (getattr(args, "serve.port"), args.prefix) == ("9000", "p") and callable(args.handler)
