"""The console in a real browser (Playwright driving Debian's chromium): log in, watch the dashboard move,
look a job up."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from test_api_support import RunningApi, add_operator, job, running_api

from taxsms.queue.keys import Keys

CHROMIUM = os.environ.get("TAXSMS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"
)


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    async with running_api(redis, keys) as api:
        await add_operator(redis, keys)
        yield api


async def test_login_dashboard_updates_and_job_lookup(api: RunningApi) -> None:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page()
            expect = playwright_api.expect
            await page.goto(f"{api.url}/console/")  # not logged in: sent to the login page
            await page.wait_for_url("**/console/login")
            await page.fill("#operator", "op1")
            await page.fill("#password", "wrong")
            await page.click("button[type=submit]")
            await expect(page.locator("#login-error")).to_contain_text("wrong password")
            await page.fill("#password", "s3cret-pass")
            await page.click("button[type=submit]")
            await page.wait_for_url("**/console/")
            await expect(page.locator("#who")).to_have_text("张三 (prov)")
            await expect(page.locator("#depth")).to_have_text("0")

            response = await api.post_jobs([job(i) for i in range(1_234)])
            assert (await response.json())["accepted"] == 1_234
            await expect(page.locator("#depth")).to_have_text("1,234", timeout=5_000)  # polled every second
            await expect(page.locator("#states")).to_contain_text("queued")
            await expect(page.locator("#windows")).to_contain_text("reply")

            await page.click("nav >> text=Job lookup")
            await page.wait_for_url("**/console/jobs")
            await page.fill("#job-id", api.stored("j42"))  # API job ids are namespaced by token
            await page.click("#lookup button")
            await expect(page.locator("#job-record")).to_contain_text("139****0042")
            await expect(page.locator("#job-record")).to_contain_text("queued")
            assert "13900000042" not in await page.content()
            await page.fill("#job-id", "nope")
            await page.click("#lookup button")
            await expect(page.locator("#job-error")).to_contain_text("not_found")

            await page.click("#logout")
            await page.wait_for_url("**/console/login")
            assert (await page.request.get(f"{api.url}/console/api/session")).status == 401
        finally:
            await browser.close()
