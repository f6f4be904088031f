"""The demo's code path, small: the same pipeline `taxsms demo` runs, on the test session's Redis."""

from __future__ import annotations

import asyncio
from io import StringIO

import aiohttp
import pytest
from rich.console import Console

from taxsms.demo import MO_CONVERSATIONS, print_summary, run_demo
from taxsms.queue.server import free_port
from taxsms.seed import DEMO_PASSWORD
from tests.test_worker import wait_until


async def test_demo_runs_end_to_end_and_prints_its_summary(redis_url: str) -> None:
    out = StringIO()
    console = Console(file=out, width=160)
    result = await run_demo(jobs=300, redis_url=redis_url, dlr_ms=20, console=console, receipt_timeout=20)
    counts = result.counts
    assert counts["dead_lettered"] == 20
    assert counts["queued"] == counts["submitting"] == counts["submitted"] == counts["delayed"] == 0
    assert counts["delivered"] + counts["undelivered"] + counts["suppressed"] == 300 + len(MO_CONVERSATIONS)
    assert result.simulator["duplicates"] == 0
    assert all(answer.startswith("【省税务局】") for _, _, answer in result.conversations)  # the registry's
    print_summary(result, console)
    text = out.getvalue()
    assert "taxsms demo summary" in text and "Web console" in text and "信息相符" in text


async def test_demo_keep_leaves_the_console_running_with_seeded_logins_until_stopped(redis_url: str) -> None:
    out = StringIO()
    port, stop = free_port(), asyncio.Event()
    demo = asyncio.create_task(
        run_demo(
            jobs=50,
            redis_url=redis_url,
            dlr_ms=20,
            console=Console(file=out, width=200),
            api_port=port,
            receipt_timeout=20,
            keep=True,
            stop=stop,
        )
    )
    url = f"http://127.0.0.1:{port}"
    await wait_until(lambda: "Everything keeps running" in out.getvalue(), timeout=60)
    assert f"{url}/console/" in out.getvalue() and DEMO_PASSWORD in out.getvalue() and "K002" in out.getvalue()
    async with aiohttp.ClientSession() as client:
        login = await client.post(f"{url}/console/api/login", json={"operator": "K002", "password": DEMO_PASSWORD})
        assert login.status == 200 and (await login.json())["unit"] == "county-e1"
        redirect = await client.get(f"{url}/console", allow_redirects=False)
        assert redirect.status == 302 and redirect.headers["Location"] == "/console/"
    stop.set()
    result = await asyncio.wait_for(demo, 30)
    assert result.counts["queued"] == 0
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as client:
            await client.get(f"{url}/healthz")
