"""Invoice and status providers: the Redis tables loaded from CSV, and an HTTP service (real aiohttp server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from taxsms.queue.keys import Keys
from taxsms.queue.server import free_port
from taxsms.replies import texts
from taxsms.replies.providers import (
    UNAVAILABLE_TEXT,
    HttpProvider,
    InvoiceResult,
    Lookup,
    RedisProvider,
    StatusResult,
)

CODE, NUMBER = "041001900111", "12345678"


async def test_redis_provider_invoices(redis: Redis, keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text(
        "Code,Number,Date,Amount,State\n"
        f"{CODE},{NUMBER},2026-11-01,1060.00,\n"
        f"{CODE},87654321,2026-10-01,50.00,作废\n"
        ",24442000000012345678,2026-11-02,88.00,\n"
        "123,45,2026-11-02,1.00,\n",
        encoding="utf-8",
    )
    provider = RedisProvider(redis, keys)
    loaded = await provider.load_invoices_csv(path)
    assert loaded.loaded == 3 and [line for line, _ in loaded.errors] == [5]
    found = await provider.lookup_invoice(CODE, NUMBER)
    assert found.lookup is Lookup.FOUND and found.fields["amount"] == "1060.00"
    assert (await provider.lookup_invoice("", "24442000000012345678")).lookup is Lookup.FOUND
    assert (await provider.lookup_invoice(CODE, "00000000")).lookup is Lookup.NOT_FOUND
    assert "作废" in texts.invoice_reply(await provider.lookup_invoice(CODE, "87654321"))
    assert (
        texts.invoice_reply(found)
        == f"您查询的发票（代码{CODE}，号码{NUMBER}）信息相符，开票日期2026-11-01，金额1060.00元。"
    )


async def test_redis_provider_status(redis: Redis, keys: Keys) -> None:
    provider = RedisProvider(redis, keys)
    loaded = await provider.load_status_csv(["reference,status", "sl2026001,已受理，审核中", ",x", "A2,"])
    assert loaded.loaded == 1 and len(loaded.errors) == 2
    assert await provider.lookup_status("SL2026001") == StatusResult(Lookup.FOUND, "SL2026001", "已受理，审核中")
    assert (await provider.lookup_status("NOPE")).lookup is Lookup.NOT_FOUND


async def test_redis_provider_unavailable_when_redis_is_down(keys: Keys) -> None:
    dead = Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        result = await RedisProvider(dead, keys).lookup_invoice(CODE, NUMBER)
    finally:
        await dead.aclose()
    assert result == InvoiceResult(Lookup.UNAVAILABLE, CODE, NUMBER, message=UNAVAILABLE_TEXT)


@pytest.fixture
async def lookup_server() -> AsyncIterator[str]:
    """A real aiohttp server on a free port: /invoice, /status, a slow endpoint and a broken one."""

    async def invoice(request: web.Request) -> web.Response:
        code, number = request.query.get("code"), request.query.get("number")
        if number == "99999999":
            await asyncio.sleep(0.8)  # slower than the client's timeout
        if number == "55555555":
            return web.Response(status=500, text="boom")
        if (code, number) == (CODE, NUMBER):
            return web.json_response({"date": "2026-11-01", "amount": 1060.0, "seller": "某公司"})
        return web.json_response({"error": "not found"}, status=404)

    async def status(request: web.Request) -> web.Response:
        if request.query.get("reference") == "SL1":
            return web.json_response({"status": "已办结"})
        if request.query.get("reference") == "BAD":
            return web.Response(text="not json")
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/api/invoice", invoice)
    app.router.add_get("/api/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/api/"
    await runner.cleanup()


async def test_http_provider(lookup_server: str) -> None:
    async with HttpProvider(lookup_server, timeout_s=0.3) as provider:
        found = await provider.lookup_invoice(CODE, NUMBER)
        assert found.lookup is Lookup.FOUND and found.fields == {
            "date": "2026-11-01",
            "amount": "1060.0",
            "seller": "某公司",
        }
        assert (await provider.lookup_invoice(CODE, "11111111")).lookup is Lookup.NOT_FOUND
        assert (await provider.lookup_status("SL1")) == StatusResult(Lookup.FOUND, "SL1", "已办结")
        assert (await provider.lookup_status("SL2")).lookup is Lookup.NOT_FOUND


async def test_http_provider_timeout_and_errors_are_unavailable(lookup_server: str) -> None:
    async with HttpProvider(lookup_server, timeout_s=0.3) as provider:
        loop = asyncio.get_running_loop()
        started = loop.time()
        slow = await provider.lookup_invoice(CODE, "99999999")
        assert slow.lookup is Lookup.UNAVAILABLE and slow.message == UNAVAILABLE_TEXT
        assert loop.time() - started < 0.7
        assert (await provider.lookup_invoice(CODE, "55555555")).lookup is Lookup.UNAVAILABLE
        assert (await provider.lookup_status("BAD")).lookup is Lookup.UNAVAILABLE
    async with HttpProvider(f"http://127.0.0.1:{free_port()}", timeout_s=0.3) as nobody:
        assert (await nobody.lookup_status("SL1")).lookup is Lookup.UNAVAILABLE


def test_reply_texts() -> None:
    assert "未查询到发票（号码24442000000012345678）" in texts.invoice_reply(
        InvoiceResult(Lookup.NOT_FOUND, "", "24442000000012345678")
    )
    assert texts.status_reply(StatusResult(Lookup.UNAVAILABLE, "X", message="稍后")) == "稍后"
    assert texts.status_reply(StatusResult(Lookup.FOUND, "SL1", "已办结")) == "受理编号SL1：已办结"
