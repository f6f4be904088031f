"""The console in a real browser (Playwright driving Debian's chromium) against the real pipeline: Redis, the
SMSC simulator, a worker, the reply service and the API.

A county publisher creates a campaign to a directory audience, the county admin approves it and watches it
reach delivered; 12366 staff answer a ticket; five wrong passwords back the account off; an MO text with HTML
in it is shown as text. Every page is photographed into the test's tmp dir (and into $TAXSMS_SCREENSHOTS,
e.g. docs/screenshots, to refresh the README's pictures).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import sender, wait_until
from redis.asyncio import Redis
from test_api_support import FAST_HASHER, RunningApi, running_api

from taxsms.api import ApiConfig
from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.demo import DEMO_SYSTEM, demo_jobs
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.governance.enqueue import enqueue_as
from taxsms.governance.registry import PrincipalBook
from taxsms.queue.jobs import Job
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer
from taxsms.queue.store import JobStore
from taxsms.replies.providers import RedisProvider
from taxsms.replies.service import ReplyConfig, ReplyService
from taxsms.seed import DEMO_PASSWORD, SEEDED_AUDIENCE, TAXPAYERS, seed_console

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
VIEWPORT = {"width": 1280, "height": 800}
XSS = '<img src=x onerror="window.__xss=1">请问<b>粗体</b>怎么申报？'
playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM} (apt-get install chromium)"
)
expect = playwright_api.expect
PHONE = "13812340005"  # a seeded taxpayer of county-e1: its ticket is the county's
SEEDED_PHONES = [phone for *_, phones in TAXPAYERS for phone, _, _ in phones]


@dataclass
class Console:
    api: RunningApi
    sim: SmscSimulator
    shots: list[Path]

    async def text_in(self, phone: str, text: str) -> None:
        await self.sim.inject_mo("86" + phone, "12366", text)


@pytest.fixture
async def console(redis: Redis, redis_url: str, keys: Keys, tmp_path: Path) -> AsyncIterator[Console]:
    await seed_console(redis, keys, hasher=FAST_HASHER)
    sim = SmscSimulator(SimulatorConfig(dlr_ms=300, keep_accepted=True))
    await sim.start()
    config = WorkerConfig(redis_url=redis_url, prefix=keys.prefix, smsc_port=sim.port, block_ms=20)
    worker = Worker(dataclasses.replace(config, send_window="00:00-24:00"))
    replies = ReplyService(redis, keys, RedisProvider(redis, keys), ReplyConfig(block_ms=20))
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(replies.run())]
    try:
        async with running_api(redis, keys, ApiConfig(worker_fresh_s=30)) as api:
            yield Console(api, sim, [])
    finally:
        worker.stop()
        replies.stop()
        await asyncio.gather(*tasks)
        await sim.stop()


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
            yield await context.new_page()
        finally:
            await browser.close()


async def shoot(page, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """A full-page screenshot into the test's tmp dir (and $TAXSMS_SCREENSHOTS if set)."""
    await page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
    if os.environ.get("TAXSMS_SCREENSHOTS"):
        folder = Path(os.environ["TAXSMS_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=folder / f"{name}.png", full_page=True)


async def log_in(page, url: str, operator: str, password: str = DEMO_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    await page.goto(f"{url}/console/login")
    await page.fill("#operator", operator)
    await page.fill("#password", password)
    await page.click("#login button[type=submit]")
    await page.wait_for_url(f"{url}/console/")


async def log_out(page, url: str) -> None:  # type: ignore[no-untyped-def]
    await page.click("#logout")
    await page.wait_for_url(f"{url}/console/login")


async def test_publisher_creates_admin_approves_campaign_is_delivered(console: Console, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = console.api.url
    await page.goto(f"{url}/console")  # not logged in: to the log-in page
    await page.wait_for_url("**/console/login*")
    await shoot(page, tmp_path, "login")

    await log_in(page, url, "K002")  # the county publisher
    await expect(page.locator("#who")).to_contain_text("李发 · 东市甲县税务局")
    await expect(page.locator("#unit-view")).to_be_visible()  # no province-wide figures for a county
    await page.click("nav >> text=群发活动")
    await page.wait_for_url("**/console/campaigns")
    await page.fill("#c-name", "12月申报期提醒<script>")
    await page.fill("#c-text", "本月征期截至12月15日，请按时申报。")
    audience = page.locator("#c-audience")  # recipients from the directory: my county's subscribed taxpayers
    await expect(audience.locator("option").first).to_have_text("东市甲县税务局 · 已订阅的纳税人")
    await expect(audience.locator("option")).to_have_count(4)  # county-e1 and its sub-bureau, taxpayers and staff
    await expect(page.locator("#c-audience-size")).to_have_text(f"{SEEDED_AUDIENCE} 人（6 户纳税人）")
    await expect(page.locator("#c-audience-sample li")).to_have_count(5)
    assert "甲县明达商贸有限公司" not in await page.content()  # names masked, like the phones
    signed = "【东市甲县税务局】本月征期截至12月15日，请按时申报。（经办人：李发）"
    await expect(page.locator("#p-text")).to_have_text(signed)
    await expect(page.locator("#p-segments")).to_contain_text(f"{SEEDED_AUDIENCE} 人")
    await expect(page.locator("#p-review")).to_have_text("未发现违禁内容")
    await shoot(page, tmp_path, "campaign-create")
    await page.click("#create button[type=submit]")
    await expect(page.locator("#create-ok")).to_contain_text("待他人审批")
    await expect(page.locator("#campaigns")).to_contain_text("12月申报期提醒<script>")  # as text
    await expect(page.locator("#queue-empty")).to_be_visible()  # nobody approves their own
    await log_out(page, url)

    await log_in(page, url, "K001")  # the county admin
    await page.click("nav >> text=群发活动")
    queued = page.locator("#queue tr").first
    await expect(queued).to_contain_text(str(SEEDED_AUDIENCE))  # the recipient count and a masked sample
    await expect(queued.locator("td.sample")).to_contain_text("139****000")
    await shoot(page, tmp_path, "campaign-queue")
    await page.click("#queue a")
    await expect(page.locator("#detail-record")).to_contain_text("东市甲县税务局 · 已订阅的纳税人")  # the audience
    await expect(page.locator("#detail-sample li")).to_have_count(5)
    sample = await page.locator("#detail-sample").inner_text()
    assert re.search(r"1[38]\d\*{4}\d{4} [甲城]\*+ \((county|sub)-e1", sample)  # masked phone and name, unit
    content = await page.content()
    assert not any(phone in content for phone in SEEDED_PHONES)
    await page.click("#approve")
    await expect(page.locator("#detail-ok")).to_contain_text(f"{SEEDED_AUDIENCE} 条消息进入队列")
    await expect(page.locator("#detail-counts")).to_contain_text("已送达", timeout=20_000)
    await expect(page.locator("#detail-counts")).to_have_text(f"已送达{SEEDED_AUDIENCE}", timeout=20_000)
    await shoot(page, tmp_path, "campaign-progress")
    await log_out(page, url)

    await log_in(page, url, "P001")  # the province admin: the platform dashboard
    await expect(page.locator("#platform")).to_be_visible()
    await expect(page.locator("#binds")).to_have_text("1 / 1", timeout=10_000)  # from the worker's heartbeat
    await expect(page.locator("#windows")).to_contain_text("开放")
    redis, keys = console.api.redis, console.api.keys
    await PrincipalBook(redis, keys).register(DEMO_SYSTEM, "the demo's upstream system")
    await enqueue_as(redis, keys, list(demo_jobs(3_000, invalid=0)), DEMO_SYSTEM)  # admitted: they are sent
    await expect(page.locator("#rate-sent")).not_to_have_text(re.compile(r"^(0|—)$"), timeout=15_000)  # it moves
    await expect(page.locator("#rate-chart path")).to_have_count(3, timeout=10_000)
    await expect(page.locator("#depth")).to_have_text("0", timeout=30_000)  # all sent: a chart of the whole run
    await shoot(page, tmp_path, "dashboard")
    await page.click("nav >> text=审计与用量")
    await expect(page.locator("#usage-rows")).to_contain_text("东市甲县税务局")
    await page.click("#audit-verify")
    await expect(page.locator("#audit-verdict")).to_contain_text("审计链完整")
    await shoot(page, tmp_path, "audit")


async def test_staff_see_an_mo_with_html_as_text_and_answer_it(console: Console, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = console.api.url
    await console.text_in(PHONE, XSS)
    await log_in(page, url, "K003")  # county 12366 staff
    await page.click("nav >> text=纳税人来信")
    row = page.locator("#tickets tr").first
    await expect(row).to_contain_text(XSS, timeout=10_000)  # the reply service opened a ticket: shown as text
    assert await page.locator("#tickets img, #tickets b").count() == 0
    assert await page.evaluate("window.__xss") is None
    await expect(row).to_contain_text("138****0005")
    assert PHONE not in await page.content()
    await row.click()
    await expect(page.locator("#answer-quote")).to_have_text(XSS)
    await page.fill("#answer-text", "您好，请登录电子税务局办理申报。")
    await shoot(page, tmp_path, "inbox")
    await page.click("#answer button[type=submit]")
    await expect(page.locator("#answer-ok")).to_contain_text("答复已进入队列")
    await expect(page.locator("#answer-ok")).to_contain_text("陈答")  # signed with the operator's name
    await page.click("input[value=answered]")
    await expect(page.locator("#tickets")).to_contain_text("已答复")
    assert await page.evaluate("window.__xss") is None

    store = JobStore(console.api.redis, console.api.keys)

    async def answer_delivered() -> bool:
        return any(r["id"].startswith("answer-") and r["state"] == "delivered" for r in await store.recent_to(PHONE))

    await wait_until(answer_delivered)
    await page.click("nav >> text=号码与订阅")
    await page.fill("#dir-phone", PHONE)
    await page.click("#dir-lookup button")
    await expect(page.locator("#dir-record")).to_contain_text("138****0005")  # the seeded taxpayer's consent
    answer = page.locator("#dir-messages tr", has_text="answer-")  # my answer, with its state and receipt
    await expect(answer).to_contain_text("已送达")
    await expect(answer).to_contain_text("1:DELIVRD")
    await expect(answer).to_contain_text("东市甲县税务局")
    assert PHONE not in await page.content()
    await shoot(page, tmp_path, "directory")

    await page.fill("#dir-phone", "330102000000006")  # the taxpayer: its phone, consent and the same messages
    await page.click("#dir-lookup button")
    await expect(page.locator("#dir-taxpayer-record")).to_contain_text("甲******")
    await expect(page.locator("#dir-taxpayer-phones")).to_contain_text("138****0005 · 法定代表人 · 订阅: 是")
    await expect(page.locator("#dir-taxpayer-phones")).to_contain_text("1:DELIVRD")
    assert (
        "甲县王记便利店" not in await page.content()
        and "330102000000006" not in await page.locator("main").inner_text()
    )
    await shoot(page, tmp_path, "directory-taxpayer")


async def test_five_wrong_passwords_back_the_account_off(console: Console, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = console.api.url
    await page.goto(f"{url}/console/login")
    await page.fill("#operator", "K002")
    for attempt in range(5):
        await page.fill("#password", f"wrong-{attempt}")
        await page.click("#login button[type=submit]")
        await expect(page.locator("#login-error")).to_have_text("工号或密码错误，或账户已停用。")
        await page.fill("#password", "")  # the next message must be the next answer's
        await page.evaluate("document.getElementById('login-error').textContent = ''")
    await page.fill("#password", DEMO_PASSWORD)  # the right one, now too late
    await page.click("#login button[type=submit]")
    await expect(page.locator("#login-error")).to_contain_text("登录失败次数过多")
    await shoot(page, tmp_path, "login-locked")
    assert page.url.endswith("/console/login")


async def test_every_page_in_english_and_chinese(console: Console, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = console.api.url
    await log_in(page, url, "P001")
    for path, name in (("jobs", "jobs"), ("account", "account"), ("directory", "directory-empty")):
        await page.goto(f"{url}/console/{path}")
        await expect(page.locator("#who")).to_contain_text("王省")
        await shoot(page, tmp_path, name)
    await page.click("#lang")
    await expect(page.locator("nav")).to_contain_text("Campaigns")
    await page.goto(f"{url}/console/")
    await expect(page.locator("#platform")).to_be_visible()
    await expect(page.locator("#binds")).to_have_text("1 / 1", timeout=10_000)
    await shoot(page, tmp_path, "dashboard-en")


async def test_a_redis_outage_shows_a_banner_instead_of_stale_numbers(own_redis: RedisServer, keys: Keys, page) -> None:  # type: ignore[no-untyped-def]
    redis = Redis.from_url(own_redis.url)
    try:
        await seed_console(redis, keys, hasher=FAST_HASHER)
        send = await sender(redis, keys)
        jobs = [Job(f"j{n}", "filing_reminder", f"139000000{n:02d}", "【省税务局】通知") for n in range(7)]
        await JobStore(redis, keys).enqueue(await send.jobs(jobs))
        async with running_api(redis, keys) as api:
            await log_in(page, api.url, "P001")
            await expect(page.locator("#depth")).to_have_text("7")
            own_redis.stop()
            await expect(page.locator("#banner")).to_contain_text("Redis", timeout=10_000)
            await expect(page.locator("#depth")).to_have_text("—")
            own_redis.start()
            await expect(page.locator("#banner")).to_be_hidden(timeout=15_000)
            await expect(page.locator("#depth")).to_have_text("7")
    finally:
        await redis.aclose()
