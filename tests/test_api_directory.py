"""PUT/GET/DELETE /v1/directory/taxpayers/{id} and POST /v1/filings over real HTTP against real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from test_api_support import RunningApi, running_api

from taxsms.directory.deadlines import Filing
from taxsms.directory.directory import Directory
from taxsms.directory.filings import FilingBook
from taxsms.directory.ids import uscc_check_character
from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.keys import Keys

FIRST = "91350100000000001"
TID = FIRST + uscc_check_character(FIRST)
PHONES = [{"phone": "13800000001", "role": "legal", "subscribed": True}, {"phone": "13800000002", "role": "finance"}]
BODY = {"name": "甲贸易有限公司", "unit": "county-e1", "reason": "registered at the counter", "phones": PHONES}


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    await save_units(redis, keys, UnitTree.from_file())
    async with running_api(redis, keys) as api:
        yield api


async def test_put_get_delete_a_taxpayer(api: RunningApi) -> None:
    token = await api.token_for("city-east")
    url = f"{api.url}/v1/directory/taxpayers/{TID}"
    created = await api.client.put(url, json=BODY, headers=api.auth(token))
    assert created.status == 201
    shown = (await created.json())["taxpayer"]
    assert shown["name"] == "甲******" and shown["phones"][0]["phone"] == "138****0001"  # masked
    assert (await api.client.put(url, json=BODY, headers=api.auth(token))).status == 200
    consent = await Directory(api.redis, api.keys).consent.record("13800000001")
    assert consent is not None and consent.taxpayers == {TID: "1"}
    assert consent.trail[0].how == "api" and consent.trail[0].detail == "registered at the counter"
    pii = await api.token_for("city-east", pii=True)
    got = await api.client.get(url, headers=api.auth(pii))
    assert (await got.json())["taxpayer"]["phones"][1] == {"phone": "13800000002", "role": "finance_contact"}

    west = await api.token_for("city-west")
    assert (await api.client.put(url, json=BODY, headers=api.auth(west))).status == 403
    assert (await api.client.get(url, headers=api.auth(west))).status == 403
    bad = await api.client.put(url, json={**BODY, "unit": "city-east"}, headers=api.auth(token))
    assert bad.status == 422 and "county or sub_bureau" in (await bad.json())["detail"]
    wrong_id = await api.client.put(f"{api.url}/v1/directory/taxpayers/91350100000000001X", json=BODY,
                                    headers=api.auth(token))  # fmt: skip
    assert wrong_id.status == 400

    assert (await api.client.delete(url, headers=api.auth(token))).status == 400  # no reason
    assert (await api.client.delete(url, params={"reason": "closed"}, headers=api.auth(token))).status == 200
    assert (await api.client.get(url, headers=api.auth(token))).status == 404


async def test_post_filings(api: RunningApi) -> None:
    token = await api.token_for("prov")
    await api.client.put(f"{api.url}/v1/directory/taxpayers/{TID}", json=BODY, headers=api.auth(token))
    events = [{"taxpayer_id": TID, "tax": "VAT", "period": "2026-11", "filed_at": "2026-12-03T10:00:00"},
              {"taxpayer_id": "110105123456789", "tax": "VAT", "period": "2026-11"},
              {"taxpayer_id": TID, "tax": "VAT", "period": "2026-13"}]  # fmt: skip
    response = await api.client.post(f"{api.url}/v1/filings", json={"events": events}, headers=api.auth(token))
    assert response.status == 200
    answer = await response.json()
    assert (answer["recorded"], answer["rejected"], answer["not_in_directory"]) == (2, 1, 1)
    assert answer["errors"][0]["index"] == 2
    book = FilingBook(api.redis, api.keys, Directory(api.redis, api.keys))
    assert await book.filed(Filing("VAT", "2026-11"), [TID, "110105123456789", "x"]) == {TID, "110105123456789"}
