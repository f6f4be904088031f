"""POST /v1/jobs and GET /v1/jobs/{id} over real HTTP against real Redis."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from test_api_support import RunningApi, encode, job, running_api

from taxsms.api import ApiConfig
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    async with running_api(redis, keys, ApiConfig(bulk_max=500, chunk=100, client_max_size=200_000)) as api:
        yield api


async def test_one_job_is_accepted_then_a_duplicate(api: RunningApi) -> None:
    first = await api.post_jobs(job(1))
    assert first.status == 202
    assert await first.json() == {"accepted": 1, "duplicates": 0, "rejected": 0, "errors": []}
    again = await api.post_jobs(job(1))
    assert again.status == 200
    assert (await again.json())["duplicates"] == 1
    record = await JobStore(api.redis, api.keys).job(api.stored("j1"))
    assert record is not None and record["state"] == "queued" and record["unit"] == "city-01"


async def test_bulk_array_reports_each_rejected_item_and_dead_letters_it(api: RunningApi) -> None:
    jobs = [job(i) for i in range(300)]
    jobs[7] = job(7, to="12345")
    jobs[42] = {**job(42), "text": "【国家税务总局】冒名的短信"}  # a signature not its unit's
    jobs[99] = {**job(99), "colour": "red"}
    jobs.append(job(0))  # a duplicate within the same request
    response = await api.post_jobs(jobs)
    assert response.status == 200
    body = await response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (297, 1, 3)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(7, "to"), (42, "text"), (99, "colour")]
    assert [e["error"] for e in body["errors"]] == ["invalid_job", "forbidden", "invalid_job"]
    assert all(e["reason"] for e in body["errors"])
    dead = await api.redis.xrange(api.keys.dead_letters)
    assert sorted(fields[b"field"].decode() for _, fields in dead) == ["colour", "text", "to"]
    counts = await JobStore(api.redis, api.keys).counts()
    assert (counts["queued"], counts["dead_lettered"]) == (297, 3)


async def test_ndjson_stream_is_enqueued_in_chunks(api: RunningApi) -> None:
    lines = [encode(job(i)) for i in range(1_000)]
    lines.insert(500, b"")  # blank lines are skipped but keep their line number
    lines.insert(700, b'{"id": "broken"')

    async def body() -> AsyncIterator[bytes]:
        data = b"\n".join(lines) + b"\n"
        for start in range(0, len(data), 7_777):  # chunk boundaries fall inside lines
            yield data[start : start + 7_777]

    headers = {"Content-Type": "application/x-ndjson", **api.auth()}
    response = await api.client.post(f"{api.url}/v1/jobs", data=body(), headers=headers)
    assert response.status == 200
    result = await response.json()
    assert (result["accepted"], result["rejected"]) == (1_000, 1)
    assert result["errors"][0]["index"] == 700 and result["errors"][0]["field"] == "job"


async def test_single_invalid_job_is_422_with_field_and_reason(api: RunningApi) -> None:
    response = await api.post_jobs(job(1, kind="spam"))
    assert response.status == 422
    body = await response.json()
    assert body["error"] == "invalid_job" and body["detail"].startswith("kind:")
    assert body["errors"][0]["field"] == "kind"


@pytest.mark.parametrize(
    ("data", "content_type", "status", "error"),
    [
        (b"not json", "application/json", 400, "bad_json"),
        (b"[1, 2", "application/json", 400, "bad_json"),
        (encode([job(i) for i in range(501)]), "application/json", 413, "too_many_jobs"),
        (b"[" + b" " * 250_000 + b"]", "application/json", 413, "too_large"),
        (b"id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
async def test_malformed_requests_are_refused_with_a_json_body(
    api: RunningApi, data: bytes, content_type: str, status: int, error: str
) -> None:
    headers = {"Content-Type": content_type, **api.auth()}
    response = await api.client.post(f"{api.url}/v1/jobs", data=data, headers=headers)
    assert response.status == status
    body = await response.json()
    assert body["error"] == error and body["detail"]


async def test_job_record_is_masked_and_scoped_to_the_principal(api: RunningApi) -> None:
    await api.post_jobs(job(5, to="+86 139-0000-0005"))
    response = await api.client.get(f"{api.url}/v1/jobs/j5", headers=api.auth())
    assert response.status == 200
    record = (await response.json())["record"]
    assert record["to"] == "139****0005"
    assert "13900000005" not in (await response.text())
    full = await api.client.get(f"{api.url}/v1/jobs/j5?phone=full", headers=api.auth())
    assert full.status == 403
    pii = await api.token_for("city-01", pii=True)
    assert (await api.post_jobs(job(5, to="+86 139-0000-0005"), token=pii)).status == 202  # its own j5
    full = await api.client.get(f"{api.url}/v1/jobs/j5?phone=full", headers=api.auth(pii))
    assert (await full.json())["record"]["to"] == "13900000005"
    other = await api.token_for("city-01")
    hidden = await api.client.get(f"{api.url}/v1/jobs/j5", headers=api.auth(other))
    assert hidden.status == 404
    missing = await api.client.get(f"{api.url}/v1/jobs/nope", headers=api.auth())
    assert missing.status == 404 and (await missing.json())["error"] == "not_found"


async def test_a_token_cannot_take_another_tokens_job_ids(api: RunningApi) -> None:
    """The hole: job ids were one global namespace, so a token could enqueue another unit's ids first (the real
    job was then deduplicated away) or a pending campaign's `cmp-...-000001`. Now each token's ids are its own."""
    squatter = await api.token_for("city-01")
    assert (await api.post_jobs(job(9, text="抢先占用的编号。"), token=squatter)).status == 202
    owner = await api.post_jobs(job(9))
    assert owner.status == 202 and (await owner.json())["accepted"] == 1  # not a duplicate of the squatter's
    store = JobStore(api.redis, api.keys)
    assert (await store.job(api.stored("j9")) or {}).get("state") == "queued"
    assert (await store.job(api.stored("j9", squatter)) or {}).get("state") == "queued"
    taken = await api.post_jobs({**job(10), "id": "cmp-20261202-deadbeef-000001"}, token=squatter)
    assert taken.status == 403 and "reserved for campaigns" in (await taken.json())["detail"]


def test_review_tables_are_built_at_startup_not_by_the_first_job() -> None:
    """The folding tables (~0.1 s of CPU) are built when the app starts; a fresh process, since they are
    built once per process and other tests have built them in this one."""
    script = """
import asyncio
from redis.asyncio import Redis
from taxsms.api.app import create_app
from taxsms.queue.keys import Keys
from taxsms.templates.review import fold_table

async def main():
    app = create_app(Redis(), Keys("t", 1))
    before = fold_table.cache_info().currsize
    app.freeze()
    await app.startup()
    print(before, fold_table.cache_info().currsize)

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["0", "1"]
