"""The whole chain over real TCP and real Redis: taxpayers text in (MO), replies go out, reminders obey
subscriptions, templates sign every message, and accounting equals what the SMSC accepted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
import pytest
from conftest import sender, texts_to, wait_until
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.governance.admission import Gate
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies.config import ReplyConfig
from taxsms.replies.inbox import Inbox
from taxsms.replies.providers import RedisProvider
from taxsms.replies.service import ReplyService
from tests.governance_support import seed_reply_units, staff_operator


@dataclass
class Platform:
    redis: Redis
    keys: Keys
    sim: SmscSimulator
    worker: Worker
    replies: ReplyService

    def texts_to(self, phone: str) -> list[str]:
        """What the SMSC accepted for `phone`, each message's parts joined."""
        return texts_to(self.sim, phone)

    async def text_in(self, phone: str, text: str) -> None:
        await self.sim.inject_mo("86" + phone, "12366", text)

    async def state(self, job_id: str) -> str:
        return (await JobStore(self.redis, self.keys).job(job_id) or {}).get("state", "")


@pytest.fixture
async def platform(redis: Redis, redis_url: str, keys: Keys) -> AsyncIterator[Platform]:
    sim = SmscSimulator(SimulatorConfig(dlr_ms=5, keep_accepted=True))
    await sim.start()
    await seed_reply_units(redis, keys)  # the reply service answers for unit 12366 (signature 【12366】)
    config = WorkerConfig(
        redis_url=redis_url, prefix=keys.prefix, smsc_port=sim.port, block_ms=20, send_window="00:00-24:00"
    )
    worker = Worker(config)  # production rules: reminders only to subscribed phones
    replies = ReplyService(redis, keys, RedisProvider(redis, keys), ReplyConfig(block_ms=20, rate_max=4))
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(replies.run())]
    await wait_until(lambda: sim.stats.binds >= 1)
    yield Platform(redis, keys, sim, worker, replies)
    worker.stop()
    replies.stop()
    await asyncio.gather(*tasks)
    await sim.stop()


def reminder(job_id: str, phone: str) -> bytes:
    job = {"id": job_id, "kind": "filing_reminder", "to": phone, "template": "filing_reminder",
           "vars": {"name": "张三", "period": "2026年11月", "tax": "增值税", "deadline": "12月15日"}}  # fmt: skip
    return msgspec.json.encode(job)


async def test_subscribe_then_reminder_is_sent_unsubscribe_then_suppressed(platform: Platform) -> None:
    await platform.text_in("13800000001", "ｋｔ")  # full-width, lower case
    await wait_until(lambda: len(platform.texts_to("13800000001")) == 1)
    assert "开通" in platform.texts_to("13800000001")[0]
    await (await sender(platform.redis, platform.keys, "city-01")).enqueue([reminder("rem-1", "13800000001")])
    await wait_until(lambda: len(platform.texts_to("13800000001")) == 2)
    sent = platform.texts_to("13800000001")[1]
    assert sent.startswith("【某市税务局】") and "张三" in sent

    await platform.text_in("13800000001", " 退订 ")
    await wait_until(lambda: len(platform.texts_to("13800000001")) == 3)
    await (await sender(platform.redis, platform.keys, "city-01")).enqueue([reminder("rem-2", "13800000001")])
    await wait_until(lambda: platform.state("rem-2"), timeout=10)
    await wait_until(lambda: _is(platform, "rem-2", "suppressed"))
    record = await JobStore(platform.redis, platform.keys).job("rem-2") or {}
    assert record["error"] == "unsubscribed"
    # A phone nobody subscribed gets no reminder either (the regulation's default).
    await (await sender(platform.redis, platform.keys, "city-01")).enqueue([reminder("rem-3", "13800000009")])
    await wait_until(lambda: _is(platform, "rem-3", "suppressed"))


async def _is(platform: Platform, job_id: str, state: str) -> bool:
    return await platform.state(job_id) == state


async def _all_sent(platform: Platform, jobs: int) -> bool:
    counts = await JobStore(platform.redis, platform.keys).counts()
    return counts["submitted"] + counts["delivered"] >= jobs


async def test_invoice_checks_found_not_found_and_malformed(platform: Platform) -> None:
    await RedisProvider(platform.redis, platform.keys).load_invoices_csv(
        ["code,number,date,amount", "041001900111,12345678,2026-10-01,1000.00"]
    )
    phone = "13800000002"
    for text in ("FP 041001900111 12345678", "041001900111，87654321", "FP 123"):
        await platform.text_in(phone, text)
        count = len(platform.texts_to(phone))
        await wait_until(lambda c=count: len(platform.texts_to(phone)) > c)
    found, missing, help_ = platform.texts_to(phone)
    assert "信息相符" in found and "1000.00" in found
    assert "未查询到" in missing
    assert "发票代码" in help_
    assert all(text.startswith("【12366】") for text in (found, missing, help_))


async def test_consultation_ticket_is_acknowledged_and_answered(platform: Platform) -> None:
    phone = "13800000003"
    await platform.text_in(phone, "请问小规模纳税人季度销售额多少以内免征增值税？")
    await wait_until(lambda: len(platform.texts_to(phone)) == 1)
    ack = platform.texts_to(phone)[0]
    inbox = Inbox(platform.redis, platform.keys)
    [ticket] = await inbox.list()
    assert ticket.id in ack
    staff = await staff_operator(platform.redis, platform.keys)
    gate = Gate(platform.redis, platform.keys)
    job = await inbox.answer(ticket.id, staff, "季度销售额30万元以下免征增值税。", gate)
    assert job.operator == "op-12366-01" and job.text.endswith("（经办人：周客服）")
    await JobStore(platform.redis, platform.keys).enqueue([job])
    await wait_until(lambda: len(platform.texts_to(phone)) == 2)  # the worker's window is 00:00-24:00 here
    assert "30万元" in platform.texts_to(phone)[1]


async def test_an_auto_responder_loop_is_stopped_by_the_limits(platform: Platform) -> None:
    phone = "13800000004"
    handled, replied = platform.replies.handled, platform.replies.replied
    for _ in range(12):  # another robot answering every reply
        await platform.text_in(phone, "您好，我现在不方便接听，稍后回复您。【自动回复】")
        await asyncio.sleep(0.02)
    await wait_until(lambda: platform.replies.handled >= handled + 12)  # the service has seen all twelve
    sent = platform.replies.replied - replied
    assert sent <= 1
    await wait_until(lambda: len(platform.texts_to(phone)) == sent)  # and what it enqueued has gone out
    assert len(platform.texts_to(phone)) == sent


async def test_every_message_is_signed_and_accounting_equals_the_smsc(platform: Platform) -> None:
    phones = [f"1390000{i:04d}" for i in range(30)]
    await platform.redis.hset(platform.keys.subscription_state, mapping=dict.fromkeys(phones, "1"))
    lines = [reminder(f"acc-{i}", phone) for i, phone in enumerate(phones)]
    long_notice = "【某市税务局】" + "关于延长2026年11月纳税申报期限的通知：" * 6
    lines += [
        msgspec.json.encode({"id": f"n{i}", "kind": "overdue_filing", "to": p, "text": long_notice})
        for i, p in enumerate(phones[:10])
    ]
    await (await sender(platform.redis, platform.keys, "city-01")).enqueue(lines)
    await wait_until(lambda: platform.sim.stats.accepted >= 30 + 10 * 3)
    await wait_until(lambda: _all_sent(platform, 40))  # every job's outcome recorded: nothing more to come
    month = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))
    usage = {k.decode(): int(v) for k, v in (await platform.redis.hgetall(platform.keys.usage(month))).items()}
    assert usage["city-01|*"] == platform.sim.stats.accepted == 60
    assert usage["city-01|filing_reminder"] == 30 and usage["city-01|overdue_filing"] == 30
    texts = [t for p in phones for t in platform.texts_to(p)]
    assert len(texts) == 40 and all(t.startswith("【某市税务局】") for t in texts)
