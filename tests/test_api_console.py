"""The console's JSON endpoints: campaigns (to audiences or uploads), inbox, usage, audit, consent and a phone's
messages, each scoped to the operator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from conftest import sender
from redis.asyncio import Redis
from test_api_support import FAST_HASHER, RunningApi, operator_book, running_api

from taxsms.api.sessions import CSRF_HEADER
from taxsms.governance.admission import Gate
from taxsms.governance.units import UnitTree
from taxsms.queue.jobs import Job, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies.inbox import Inbox, TicketError, common_unit
from taxsms.seed import DEMO_PASSWORD, SEEDED_AUDIENCE, TAXPAYERS, seed_console

SEEDED_PHONES = [phone for *_, phones in TAXPAYERS for phone, _, _ in phones]
RECIPIENTS = "phone,unit\n13910000001,county-e1\n13910000002\n"


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    await seed_console(redis, keys, hasher=FAST_HASHER)
    async with running_api(redis, keys) as api:
        yield api


class As:
    """An operator's own HTTP session against the console API."""

    def __init__(self, api: RunningApi, client: aiohttp.ClientSession, csrf: str) -> None:
        self.api, self.client, self.csrf = api, client, csrf

    async def get(self, path: str) -> tuple[int, dict[str, object]]:
        response = await self.client.get(f"{self.api.url}/console/api/{path}")
        return response.status, await response.json()

    async def post(self, path: str, body: object = None) -> tuple[int, dict[str, object]]:
        headers = {CSRF_HEADER: self.csrf}
        response = await self.client.post(f"{self.api.url}/console/api/{path}", json=body or {}, headers=headers)
        return response.status, await response.json()


@pytest.fixture
async def login(api: RunningApi) -> AsyncIterator[object]:
    clients: list[aiohttp.ClientSession] = []

    async def log_in(operator: str) -> As:
        client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        clients.append(client)
        body = {"operator": operator, "password": DEMO_PASSWORD}
        response = await client.post(f"{api.url}/console/api/login", json=body)
        assert response.status == 200, await response.text()
        return As(api, client, (await response.json())["csrf"])

    yield log_in
    for client in clients:
        await client.close()


async def test_preview_signs_counts_segments_and_names_forbidden_terms(login) -> None:  # type: ignore[no-untyped-def]
    publisher = await login("K002")
    status, body = await publisher.post("campaigns/preview", {"text": "请按时申报。", "recipients": RECIPIENTS})
    assert status == 200
    assert body["text"] == "【东市甲县税务局】请按时申报。（经办人：李发）"
    assert (body["segments"], body["recipients"], body["cost_segments"], body["clean"]) == (1, 2, 2, True)
    status, body = await publisher.post("campaigns/preview", {"text": "欢迎参与六合彩", "recipients": ""})
    assert status == 200 and not body["clean"] and body["matches"][0]["term"] == "六合彩"


async def test_campaign_create_approve_reject_are_the_campaign_books_rules(login) -> None:  # type: ignore[no-untyped-def]
    publisher, admin, other_county = await login("K002"), await login("K001"), await login("C001")
    status, refused = await publisher.post("campaigns", {"name": "x", "text": "六合彩", "recipients": RECIPIENTS})
    assert status == 422 and "六合彩" in str(refused["detail"])
    status, created = await publisher.post(
        "campaigns", {"name": "征期提醒", "text": "请按时申报。", "recipients": RECIPIENTS}
    )
    assert status == 201 and created["state"] == "pending_approval" and created["recipients"] == 2
    status, mine = await publisher.post(f"campaigns/{created['id']}/approve")
    assert status == 403 and "second person" in str(mine["detail"])  # in words
    status, listed = await admin.get("campaigns")
    assert [c["may_decide"] for c in listed["campaigns"]] == [True]  # type: ignore[index]
    status, detail = await admin.get(f"campaigns/{created['id']}")
    assert detail["sample"] == ["139****0001 (county-e1)", "139****0002 (county-e1)"]
    assert (await admin.post(f"campaigns/{created['id']}/reject", {"reason": ""}))[0] == 422
    status, rejected = await admin.post(f"campaigns/{created['id']}/reject", {"reason": "措辞需修改"})
    assert status == 200 and rejected["state"] == "rejected"
    status, seen = await other_county.get("campaigns")  # the city above sees it too
    assert [c["id"] for c in seen["campaigns"]] == [created["id"]]  # type: ignore[index]


async def test_a_county_sees_neither_another_countys_campaigns_nor_its_usage(api: RunningApi, login) -> None:  # type: ignore[no-untyped-def]
    publisher = await login("K002")
    _, created = await publisher.post("campaigns", {"name": "n", "text": "请按时申报。", "recipients": RECIPIENTS})
    book = await operator_book(api.redis, api.keys)
    await book.add(await book.get("C001"), "K901", "吴乙", "county-e2", ["admin"], DEMO_PASSWORD)
    other = await login("K901")
    assert (await other.get("campaigns"))[1]["campaigns"] == []
    assert (await other.get(f"campaigns/{created['id']}"))[0] == 404
    _, usage = await other.get("usage")
    assert [row["unit"] for row in usage["units"]] == ["county-e2"]  # type: ignore[index]


async def test_inbox_and_audit_need_their_roles(login) -> None:  # type: ignore[no-untyped-def]
    publisher, staff, auditor = await login("K002"), await login("K003"), await login("P002")
    status, body = await publisher.get("inbox")
    assert status == 403 and "staff12366" in str(body["detail"])
    assert await staff.get("inbox") == (200, {"tickets": []})
    assert (await staff.get("audit"))[0] == 403
    status, entries = await auditor.get("audit?action=login")
    assert status == 200 and {e["actor"] for e in entries["entries"]} >= {"K002", "K003", "P002"}  # type: ignore[union-attr]
    status, verdict = await auditor.post("audit/verify")
    assert status == 200 and verdict["ok"] is True


async def test_consent_lookup_is_masked_and_says_when_there_is_none(login) -> None:  # type: ignore[no-untyped-def]
    staff = await login("K003")
    status, body = await staff.get("consent/13800138000")
    assert status == 404 and "138****8000" in str(body["detail"]) and "13800138000" not in str(body)
    assert (await staff.get("consent/12345"))[0] == 422


async def test_a_campaign_is_cancelled_with_a_reason(login) -> None:  # type: ignore[no-untyped-def]
    publisher = await login("K002")
    _, created = await publisher.post("campaigns", {"name": "n", "text": "请按时申报。", "recipients": RECIPIENTS})
    assert created["may_cancel"] is True
    assert (await publisher.post(f"campaigns/{created['id']}/cancel", {"reason": ""}))[0] == 422
    status, cancelled = await publisher.post(f"campaigns/{created['id']}/cancel", {"reason": "发错了"})
    assert status == 200 and cancelled["state"] == "cancelled" and cancelled["reason"] == "发错了"


async def test_campaign_to_a_directory_audience_of_my_jurisdiction(login) -> None:  # type: ignore[no-untyped-def]
    publisher, admin = await login("K002"), await login("K001")
    status, listed = await publisher.get("audiences")
    options = [(a["kind"], a["unit"]) for a in listed["audiences"]]  # type: ignore[index]
    assert options == [
        ("taxpayers", "county-e1"),
        ("staff", "county-e1"),
        ("taxpayers", "sub-e1-town"),
        ("staff", "sub-e1-town"),
    ]
    status, size = await publisher.get("audiences/size?kind=taxpayers&unit=county-e1&subscribed=1")
    assert status == 200 and (size["recipients"], size["taxpayers"]) == (SEEDED_AUDIENCE, 6)
    assert len(size["sample"]) == 5 and all("****" in line for line in size["sample"])  # type: ignore[union-attr]
    assert not any(phone in str(size) for phone in SEEDED_PHONES) and "甲县" not in str(size)
    assert (await publisher.get("audiences/size?kind=taxpayers&unit=county-e2"))[0] == 404  # not mine
    assert (await publisher.get("audiences/size?kind=staff&unit=county-e1"))[1]["recipients"] == 3
    audience = {"kind": "taxpayers", "unit": "county-e1", "subscribed": True}
    status, created = await publisher.post("campaigns", {"name": "征期", "text": "请按时申报。", "audience": audience})
    assert status == 201 and created["recipients"] == SEEDED_AUDIENCE
    assert created["audience"] == "taxpayers of county-e1, subscribed"
    status, queue = await admin.get("campaigns?state=pending_approval")
    (row,) = queue["campaigns"]  # type: ignore[index]
    assert row["recipients"] == SEEDED_AUDIENCE and len(row["sample"]) == 5 and "13910000001" not in str(row)
    elsewhere = {"kind": "taxpayers", "unit": "county-e2"}
    status, refused = await publisher.post("campaigns", {"name": "x", "text": "请按时申报。", "audience": elsewhere})
    assert status == 404 and "county-e2" in str(refused["detail"])
    status, refused = await publisher.post("campaigns", {"name": "x", "text": "请按时申报。"})
    assert status == 422 and "audience" in str(refused["detail"])


async def test_a_ticket_is_its_taxpayers_units_and_staff_see_their_unit_and_below(api: RunningApi, login) -> None:  # type: ignore[no-untyped-def]
    inbox = Inbox(api.redis, api.keys)
    county, sub, other, unknown = [
        (await inbox.create(phone, "请问怎么申报"))[0]
        for phone in ("13910000001", "13910000007", "13920000001", "13800000000")
    ]
    assert (county.unit, sub.unit, other.unit, unknown.unit) == ("county-e1", "sub-e1-town", "county-e2", "prov")
    book = await operator_book(api.redis, api.keys)
    await book.add(await book.get("P001"), "P912", "省客服", "prov", ["staff12366"], DEMO_PASSWORD)
    await book.add(await book.get("C001"), "K911", "吴乙", "county-e2", ["admin"], DEMO_PASSWORD)
    await book.add(await book.get("K911"), "K912", "乙客服", "county-e2", ["staff12366"], DEMO_PASSWORD)
    e1, e2, province = await login("K003"), await login("K912"), await login("P912")

    def ids(body: dict[str, object]) -> set[str]:
        return {t["id"] for t in body["tickets"]}  # type: ignore[index, union-attr]

    assert ids((await e1.get("inbox"))[1]) == {county.id, sub.id}  # its county and the sub-bureau below
    assert ids((await e2.get("inbox"))[1]) == {other.id}
    assert ids((await province.get("inbox"))[1]) == {county.id, sub.id, other.id, unknown.id}
    status, refused = await e1.post(f"inbox/{other.id}/answer", {"text": "您好。"})
    assert status == 404 and other.id in str(refused["detail"])
    with pytest.raises(TicketError, match="no ticket"):  # the CLI's path keeps to the unit too
        await inbox.answer(unknown.id, await book.get("K003"), "您好。", Gate(api.redis, api.keys))
    assert (await e1.get("inbox"))[1]["tickets"][0]["unit_name"] in ("东市甲县税务局", "东市甲县城关税务分局")  # type: ignore[index]
    said, _ = await inbox.create("13910000002", "身份证110101199003074518，手机13910000002")
    (row,) = [t for t in (await e1.get("inbox"))[1]["tickets"] if t["id"] == said.id]  # type: ignore[union-attr]
    assert row["text"] == "身份证110101********4518，手机139****0002"  # ID card and mobile numbers masked


def test_a_phone_of_taxpayers_of_two_counties_is_their_citys() -> None:
    tree = UnitTree.from_file()
    assert common_unit(tree, {"county-e1", "county-e2"}) == "city-east"
    assert common_unit(tree, {"county-e1", "sub-e1-town"}) == "county-e1"
    assert common_unit(tree, {"county-e1", "county-w1"}) == "prov"
    assert common_unit(tree, {"gone"}) == "prov"


async def test_a_phone_or_taxpayer_is_looked_up_masked_with_my_units_messages(api: RunningApi, login) -> None:  # type: ignore[no-untyped-def]
    store = JobStore(api.redis, api.keys)
    await store.ensure_group()
    for unit, county in (("county-e1", "甲"), ("county-e2", "乙")):
        send = await sender(api.redis, api.keys, unit)
        await store.enqueue(await send.jobs([Job(f"{unit[-2:]}-notice", "overdue_filing", "13910000001",
                                                 f"【东市{county}县税务局】通知")]))  # fmt: skip
    entries = await store.read("c", store.streams, 10, None)
    await store.begin([(e, parse_job(e.payload)) for e in entries])
    county = await login("K002")
    status, body = await county.get("phones/13910000001/messages")
    assert status == 200 and body["phone"] == "139****0001" and body["other_units"] == 1
    (message,) = body["messages"]  # type: ignore[misc]
    assert (message["id"], message["unit_name"], message["state"]) == ("e1-notice", "东市甲县税务局", "submitting")
    assert (await county.get("phones/12345/messages"))[0] == 422
    status, taxpayer = await county.get("taxpayers/330102000000001")
    assert status == 200 and taxpayer["name"] == "甲*********" and taxpayer["id"] != "330102000000001"
    assert [(p["phone"], p["consent"]) for p in taxpayer["phones"]] == [("139****0001", "1"), ("139****0002", "1")]  # type: ignore[index, union-attr]
    assert taxpayer["phones"][0]["messages"][0]["id"] == "e1-notice"  # type: ignore[index]
    assert "13910000001" not in str(taxpayer) and "明达" not in str(taxpayer)
    status, refused = await county.get("taxpayers/330103000000001")  # 东市乙县's: not mine
    assert status == 404 and "330103000000001" not in str(refused)
    assert (await county.get("taxpayers/not-an-id"))[0] == 422
    province = await login("P001")
    assert (await province.get("phones/13910000001/messages"))[1]["other_units"] == 0
