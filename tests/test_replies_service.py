"""The reply service end to end on real Redis: MO entries in, reply jobs out, each MO answered once."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from redis.asyncio import Redis

from taxsms.queue.jobs import CHINA, Job, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies.config import ReplyConfig
from taxsms.replies.limits import Withheld
from taxsms.replies.providers import InvoiceResult, Lookup, RedisProvider, StatusResult
from taxsms.replies.service import ReplyService
from taxsms.replies.subscriptions import SubscriptionBook
from tests.governance_support import seed_reply_units

NOW = datetime(2026, 11, 23, 22, 15, tzinfo=CHINA).timestamp()  # replies go out at any hour
CONFIG = ReplyConfig(unit="12366", consumer="test", batch=50)


async def send_mo(redis: Redis, keys: Keys, sender: str, text: str, at: float = NOW) -> str:
    """Add an MO entry the way the dispatcher's DeliverySink does."""
    fields = {"from": sender, "to": "12366", "text": text, "at": f"{at:.3f}"}
    entry = await redis.xadd(keys.mo, fields, maxlen=1_000_000, approximate=True)
    return entry.decode()


async def queued_jobs(redis: Redis, keys: Keys) -> dict[str, Job]:
    """Every job in the job streams, by id (whichever stream JobStore.enqueue put it in)."""
    jobs: dict[str, Job] = {}
    for stream in JobStore(redis, keys).streams:
        for _, fields in await redis.xrange(stream):
            job = parse_job(fields[b"job"])
            assert job.id not in jobs, f"{job.id} enqueued twice"
            jobs[job.id] = job
    return jobs


@pytest.fixture
async def service(redis: Redis, keys: Keys) -> ReplyService:
    provider = RedisProvider(redis, keys)
    await provider.load_invoices_csv(["code,number,date,amount", "041001900111,12345678,2026-11-01,1060.00"])
    await provider.load_status_csv(["reference,status", "SL2026001,已受理，审核中"])
    await seed_reply_units(redis, keys)
    svc = ReplyService(redis, keys, provider, CONFIG, clock=lambda: NOW)
    await svc.ensure_group()
    return svc


async def test_answers_each_kind_of_message(redis: Redis, keys: Keys, service: ReplyService) -> None:
    entries = [
        await send_mo(redis, keys, "+8613800138000", "ＫＴ"),
        await send_mo(redis, keys, "13900139000", " td "),
        await send_mo(redis, keys, "13700137000", "FP 041001900111，12345678"),
        await send_mo(redis, keys, "13700137001", "041001900111 87654321"),
        await send_mo(redis, keys, "13700137002", "FP 1234"),
        await send_mo(redis, keys, "13700137003", "CX SL2026001"),
        await send_mo(redis, keys, "13700137004", "我要投诉办税大厅排队太久"),
        await send_mo(redis, keys, "10086", "您的话费余额不足"),
        await send_mo(redis, keys, "1069012345678", "KT"),
        await send_mo(redis, keys, "13600136000", "【自动回复】您好，我正在开会"),
    ]
    outcomes = await service.process_batch()
    assert [o.entry_id for o in outcomes] == entries
    by_entry = {o.entry_id: o for o in outcomes}
    texts = [by_entry[e].text for e in entries]
    assert texts[0] == "【12366】您已成功开通税务短信服务。回复TD可退订。"
    assert texts[1] == "【12366】您已退订税务短信服务。回复KT可重新开通。"
    assert "信息相符" in texts[2] and "1060.00元" in texts[2]
    assert "未查询到发票" in texts[3]
    assert "FP 发票代码 发票号码" in texts[4]
    assert texts[5] == "【12366】受理编号SL2026001：已受理，审核中"
    assert texts[6] == "【12366】您的投诉已收到，受理编号T20261123-000001，我们将尽快答复。"
    assert by_entry[entries[6]].ticket == "T20261123-000001"
    assert [by_entry[e].withheld for e in entries[7:]] == [
        Withheld.NOT_MOBILE,
        Withheld.NOT_MOBILE,
        Withheld.AUTO_REPLY,
    ]
    assert all(not by_entry[e].job_id for e in entries[7:])

    store = JobStore(redis, keys)
    for entry in entries[:7]:
        record = await store.job(f"mo-{entry}")
        assert record is not None and record["kind"] == "reply" and record["state"] == "queued"
    assert (await store.job(f"mo-{entries[0]}") or {})["to"] == "13800138000"
    jobs = await queued_jobs(redis, keys)
    assert len(jobs) == 7
    job = jobs[f"mo-{entries[2]}"]
    assert (job.unit, job.in_reply_to, job.to) == ("12366", entries[2], "13700137000")

    book = SubscriptionBook(redis, keys)
    assert await book.state("13800138000") is True and await book.state("13900139000") is False
    record = await book.record("13800138000")
    assert record is not None and record.sms == "K" and record.trail[-1].how == "sms"
    assert record.trail[-1].at == NOW and record.trail[-1].ref == entries[0]  # the MO message id
    assert await redis.xpending(keys.mo, CONFIG.group) == {"pending": 0, "min": None, "max": None, "consumers": []}


async def test_reprocessing_does_not_answer_twice(redis: Redis, keys: Keys, service: ReplyService) -> None:
    for text in ("KT", "请问个税怎么申报", "FP 041001900111 12345678"):
        await send_mo(redis, keys, "13800138000", text)
    first = await service.process_batch()
    assert len([o for o in first if o.job_id]) == 3
    # a crash after enqueueing but before the ack: the same entries are delivered again
    await redis.xgroup_setid(keys.mo, CONFIG.group, "0")
    again = ReplyService(redis, keys, service.provider, CONFIG, clock=lambda: NOW)
    second = await again.process_batch()
    assert [o.job_id for o in second] == [o.job_id for o in first]
    assert [o.ticket for o in second] == [o.ticket for o in first]  # the same ticket, not a second one
    assert len(await queued_jobs(redis, keys)) == 3
    assert (await JobStore(redis, keys).counts())["queued"] == 3
    assert await redis.zcard(keys.tickets) == 1
    assert await service.process_batch() == []


async def test_recovers_its_own_pending_entries(redis: Redis, keys: Keys, service: ReplyService) -> None:
    entry = await send_mo(redis, keys, "13800138000", "TD")
    await redis.xreadgroup(CONFIG.group, CONFIG.consumer, {keys.mo: ">"})  # read, then "crashed" before the ack
    restarted = ReplyService(redis, keys, service.provider, CONFIG, clock=lambda: NOW)
    outcomes = await restarted.process_batch()
    assert [(o.entry_id, o.action) for o in outcomes] == [(entry, "unsubscribe")]
    assert (await redis.xpending(keys.mo, CONFIG.group))["pending"] == 0


async def test_rate_limit_stores_but_does_not_reply(redis: Redis, keys: Keys, service: ReplyService) -> None:
    for i in range(7):
        await send_mo(redis, keys, "13800138000", f"请问第{i}个问题")
    await send_mo(redis, keys, "13800138000", "TD")
    config = ReplyConfig(consumer="test", rate_max=5, burst_max=100)
    outcomes = await ReplyService(redis, keys, service.provider, config, clock=lambda: NOW).process_batch()
    assert [bool(o.job_id) for o in outcomes] == [True] * 5 + [False] * 3
    assert {o.withheld for o in outcomes[5:]} == {Withheld.RATE}
    assert await redis.zcard(keys.tickets) == 7  # every question reaches the staff
    assert await SubscriptionBook(redis, keys).state("13800138000") is False  # an unsubscribe is always honoured


async def test_echo_of_our_reply_is_not_answered(redis: Redis, keys: Keys, service: ReplyService) -> None:
    await send_mo(redis, keys, "13800138000", "请问发票怎么领")
    [first] = await service.process_batch()
    await send_mo(redis, keys, "13800138000", first.text)  # an auto-responder sends our reply back
    await send_mo(redis, keys, "13800138000", first.text.removeprefix("【12366】"))
    outcomes = await service.process_batch()
    assert [o.withheld for o in outcomes] == [Withheld.ECHO, Withheld.ECHO]
    assert await redis.zcard(keys.tickets) == 1  # machine text opens no ticket


class BrokenProvider:
    async def lookup_invoice(self, code: str, number: str) -> InvoiceResult:
        raise RuntimeError("provider bug")

    async def lookup_status(self, reference: str) -> StatusResult:
        return StatusResult(Lookup.UNAVAILABLE, reference, message="系统维护中")


async def test_provider_failures_still_get_a_reply(redis: Redis, keys: Keys) -> None:
    await seed_reply_units(redis, keys)
    service = ReplyService(redis, keys, BrokenProvider(), CONFIG, clock=lambda: NOW)
    await service.ensure_group()
    await send_mo(redis, keys, "13800138000", "FP 041001900111 12345678")
    await send_mo(redis, keys, "13900139000", "CX SL0001")
    outcomes = await service.process_batch()
    assert "暂时不可用" in outcomes[0].text and outcomes[1].text == "【12366】系统维护中"


async def test_run_and_stop(redis: Redis, keys: Keys, service: ReplyService) -> None:
    fast = ReplyService(redis, keys, service.provider, ReplyConfig(consumer="runner", block_ms=50), clock=lambda: NOW)
    task = asyncio.create_task(fast.run())
    entry = await send_mo(redis, keys, "13800138000", "KT")
    for _ in range(100):
        if await JobStore(redis, keys).job(f"mo-{entry}"):
            break
        await asyncio.sleep(0.02)
    fast.stop()
    await asyncio.wait_for(task, 2)
    assert fast.replied == 1 and fast.handled == 1


async def test_run_loads_the_admission_snapshot_before_the_first_read(
    redis: Redis, keys: Keys, service: ReplyService
) -> None:
    """Its first load builds the review's tables (~0.1 s): done at start, not while the first MO waits."""
    fast = ReplyService(redis, keys, service.provider, ReplyConfig(consumer="warm", block_ms=50), clock=lambda: NOW)
    task = asyncio.create_task(fast.run())
    for _ in range(100):  # the consumer exists once it has issued its first XREADGROUP
        if any(c["name"] == b"warm" for c in await redis.xinfo_consumers(keys.mo, CONFIG.group)):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the reply service never read")
    assert fast.handled == 0 and fast.gate.current is not None
    fast.stop()
    await asyncio.wait_for(task, 2)
