"""/v1/templates: list and preview (thin endpoints over taxsms.templates)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from test_api_support import RunningApi, running_api

from taxsms.queue.keys import Keys


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    async with running_api(redis, keys) as api:
        yield api


async def test_templates_are_listed_for_the_token_kinds(api: RunningApi) -> None:
    response = await api.client.get(f"{api.url}/v1/templates", headers=api.auth())
    names = {t["name"] for t in (await response.json())["templates"]}
    assert {"filing_reminder", "notice_policy", "reply_subscribed"} <= names
    notices = await api.token_for("city-01", {"notice"})
    response = await api.client.get(f"{api.url}/v1/templates", headers=api.auth(notices))
    assert {t["kind"] for t in (await response.json())["templates"]} == {"notice"}


async def test_preview_renders_and_reports_cost(api: RunningApi) -> None:
    url = f"{api.url}/v1/templates/notice_policy/preview"
    body = {"unit_name": "某市税务局", "operator_name": "李四", "vars": {"title": "关于延长申报期限的公告"}}
    response = await api.client.post(url, json=body, headers=api.auth())
    assert response.status == 200
    result = await response.json()
    assert result["text"].startswith("【某市税务局】") and "关于延长申报期限的公告" in result["text"]
    assert result["segments"] >= 1 and result["clean"] is True
    missing = await api.client.post(url, json={**body, "vars": {}}, headers=api.auth())
    assert missing.status == 422 and (await missing.json())["variable"] == "title"
    unknown = await api.client.post(f"{api.url}/v1/templates/nope/preview", json=body, headers=api.auth())
    assert unknown.status == 404
    replies_only = await api.token_for("city-01", {"reply"})
    assert (await api.client.post(url, json=body, headers=api.auth(replies_only))).status == 403
