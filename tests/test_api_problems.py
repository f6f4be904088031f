"""API hygiene: RFC 9457 problem details, strict query parameters, ids in bulk errors, the served docs page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from test_api_support import RunningApi, job, running_api

from taxsms.queue.keys import Keys


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    async with running_api(redis, keys) as api:
        yield api


async def test_refusals_are_problem_details(api: RunningApi) -> None:
    missing = await api.client.get(f"{api.url}/v1/jobs/nope", headers=api.auth())
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    assert await missing.json() == {
        "type": "urn:taxsms:problem:not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "no job 'nope' for unit 'city-01'",
        "error": "not_found",
    }
    invalid = await api.post_jobs(job(1, kind="lottery"))
    body = await invalid.json()
    assert invalid.status == 422 and invalid.content_type == "application/problem+json"
    assert (body["type"], body["title"], body["status"], body["error"]) == (
        "urn:taxsms:problem:invalid_job", "Unprocessable Entity", 422, "invalid_job"
    )  # fmt: skip
    assert body["errors"][0]["id"] == "j1"  # the job's id, though the job was refused
    unknown_route = await api.client.get(f"{api.url}/nowhere")
    assert unknown_route.content_type == "application/problem+json" and (await unknown_route.json())["status"] == 404


async def test_bulk_errors_name_the_job_of_each_refused_item(api: RunningApi) -> None:
    response = await api.post_jobs([job(1), job(2, to="12345"), {"id": "j3", "kind": "notice"}, [1]])
    body = await response.json()
    assert response.status == 200 and body["accepted"] == 1 and body["rejected"] == 3
    refused = [(e["index"], e["id"], e["field"]) for e in body["errors"]]
    assert refused == [(1, "j2", "to"), (2, "j3", "to"), (3, "", "job")]


async def test_usage_refuses_an_empty_month_and_unknown_parameters(api: RunningApi) -> None:
    empty = await api.client.get(f"{api.url}/v1/usage?month=", headers=api.auth())
    assert empty.status == 400 and (await empty.json())["detail"] == "month must be YYYY-MM, not ''"
    typo = await api.client.get(f"{api.url}/v1/usage?mnth=2026-11", headers=api.auth())
    assert typo.status == 400 and (await typo.json())["detail"] == "unknown query parameter 'mnth'; known: month"
    assert (await api.client.get(f"{api.url}/v1/usage?month=2026-11", headers=api.auth())).status == 200


async def test_docs_page_is_served_from_the_package_with_no_outside_urls(api: RunningApi) -> None:
    page = await api.client.get(f"{api.url}/docs")
    html = await page.text()
    assert page.status == 200 and page.content_type == "text/html"
    assert "style-src 'self' 'unsafe-inline'" in page.headers["Content-Security-Policy"]
    assert not re.search(r"https?://", html)
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        asset = await api.client.get(f"{api.url}{src}")
        assert asset.status == 200, src
        assert not re.search(rb"""(src|href)=["']https?://""", await asset.read())
    init = await (await api.client.get(f"{api.url}/docs/init.js")).text()
    assert 'url: "/openapi.json"' in init
    assert (await api.client.get(f"{api.url}/docs/index.html")).status == 404
