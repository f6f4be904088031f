"""The staff inbox on real Redis: tickets created once per MO, listed newest first, answered as reply jobs."""

from __future__ import annotations

from datetime import datetime

import pytest
from redis.asyncio import Redis

from taxsms.governance.admission import Gate
from taxsms.queue.jobs import CHINA, Kind
from taxsms.queue.keys import Keys
from taxsms.replies.inbox import ANSWERED, OPEN, Inbox, TicketError, TicketKind, guess_kind
from tests.governance_support import seed_reply_units, staff_operator


@pytest.fixture(autouse=True)
async def units(redis: Redis, keys: Keys) -> None:
    await seed_reply_units(redis, keys)


AT = datetime(2026, 11, 23, 7, 30, tzinfo=CHINA).timestamp()  # 2026-11-22 23:30 UTC: the China date counts


@pytest.mark.parametrize(
    ("text", "kind"),
    [("我要举报某公司虚开发票", TicketKind.REPORT), ("投诉办税大厅", TicketKind.COMPLAINT),
     ("请问个税怎么申报", TicketKind.CONSULT), ("", TicketKind.CONSULT)],
)  # fmt: skip
def test_guess_kind(text: str, kind: TicketKind) -> None:
    assert guess_kind(text) is kind


async def test_create_numbers_tickets_by_china_date(redis: Redis, keys: Keys) -> None:
    inbox = Inbox(redis, keys, clock=lambda: AT)
    first, new = await inbox.create("13800138000", "请问个税怎么申报", mo_id="1-0")
    assert new and first.id == "T20261123-000001" and first.kind is TicketKind.CONSULT and first.status == OPEN
    await redis.set(keys.ticket_seq, 41)
    second, _ = await inbox.create("13900139000", "我要举报", mo_id="2-0", at=AT + 60)
    assert second.id == "T20261123-000042" and second.kind is TicketKind.REPORT
    assert await inbox.get(second.id) == second


async def test_create_is_idempotent_per_mo(redis: Redis, keys: Keys) -> None:
    inbox = Inbox(redis, keys, clock=lambda: AT)
    first, _ = await inbox.create("13800138000", "投诉", mo_id="5-0")
    again, new = await inbox.create("13800138000", "投诉", mo_id="5-0")
    assert not new and again == first
    assert await redis.zcard(keys.tickets) == 1


async def test_phone_is_masked_in_str_and_repr(redis: Redis, keys: Keys) -> None:
    ticket, _ = await Inbox(redis, keys, clock=lambda: AT).create("13800138000", "请问")
    assert "13800138000" not in str(ticket) and "138****8000" in str(ticket)
    assert "13800138000" not in repr(ticket) and "138****8000" in repr(ticket)
    assert str(ticket) == "T20261123-000001 2026-11-23 07:30 open 咨询 138****8000: 请问"


async def test_list_newest_first_and_by_status(redis: Redis, keys: Keys) -> None:
    inbox = Inbox(redis, keys, clock=lambda: AT)
    ids = [(await inbox.create("13800138000", f"问题{i}", at=AT + i))[0].id for i in range(5)]
    assert [t.id for t in await inbox.list()] == ids[::-1]
    assert [t.id for t in await inbox.list(limit=2)] == ids[:2:-1]
    staff = await staff_operator(redis, keys)
    await inbox.answer(ids[1], staff, "已转主管科室", Gate(redis, keys))
    assert [t.id for t in await inbox.list(OPEN)] == [ids[4], ids[3], ids[2], ids[0]]
    assert [t.id for t in await inbox.list(ANSWERED)] == [ids[1]]


async def test_answer_returns_the_reply_job(redis: Redis, keys: Keys) -> None:
    inbox, gate = Inbox(redis, keys, clock=lambda: AT), Gate(redis, keys)
    staff = await staff_operator(redis, keys)
    ticket, _ = await inbox.create("+86 138 0013 8000", "我要举报", mo_id="9-0")
    job = await inbox.answer(ticket.id, staff, "您反映的问题已受理，结果将另行告知。", gate)
    assert job.id == f"answer-{ticket.id}-1" and job.kind is Kind.REPLY and job.to == "13800138000"
    assert job.text == "【12366】您反映的问题已受理，结果将另行告知。（经办人：周客服）"
    assert (job.unit, job.operator, job.in_reply_to, job.principal) == (
        "12366",
        "op-12366-01",
        "9-0",
        "operator:op-12366-01",
    )
    stored = await inbox.get(ticket.id)
    assert stored is not None and stored.status == ANSWERED and stored.operator == "op-12366-01"
    later = await inbox.answer(ticket.id, staff, "经查属实，已依法处理。", gate)
    assert later.id == f"answer-{ticket.id}-2"
    [audited] = [e async for e in gate.audit.entries() if e.action == "ticket.answer" and e.details["job"] == job.id]
    assert audited.actor == "op-12366-01" and audited.subject == ticket.id


async def test_answer_refusals(redis: Redis, keys: Keys) -> None:
    inbox, gate = Inbox(redis, keys, clock=lambda: AT), Gate(redis, keys)
    staff = await staff_operator(redis, keys)
    ticket, _ = await inbox.create("13800138000", "请问")
    with pytest.raises(TicketError, match="empty"):
        await inbox.answer(ticket.id, staff, "  ", gate)
    with pytest.raises(TicketError, match="no ticket"):
        await inbox.answer("T20260101-000009", staff, "答复", gate)
    with pytest.raises(TicketError, match="forbidden content"):
        await inbox.answer(ticket.id, staff, "欢迎参与六合彩", gate)
    with pytest.raises(TicketError, match="signature"):
        await inbox.answer(ticket.id, staff, "【国家税务总局】答复", gate)
    assert (await inbox.get(ticket.id)).status == OPEN  # type: ignore[union-attr]  # nothing marked
    short, _ = await inbox.create("10086", "carrier notice")
    with pytest.raises(TicketError, match="cannot be answered"):
        await inbox.answer(short.id, staff, "答复", gate)
