"""/healthz, /readyz, /metrics, /v1/usage and /openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from redis.asyncio import Redis
from test_api_support import RunningApi, job, running_api, start_site

from taxsms.api import ApiConfig, create_app, report_worker_health
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.queue.keys import Keys


@pytest.fixture
async def api(redis: Redis, keys: Keys) -> AsyncIterator[RunningApi]:
    async with running_api(
        redis, keys, ApiConfig(windows=WindowPolicy.build("00:00-24:00", overrides="internal=00:00-00:01"))
    ) as api:
        yield api


async def test_health_and_readiness(api: RunningApi) -> None:
    assert (await (await api.client.get(f"{api.url}/healthz")).json()) == {"status": "ok"}
    not_ready = await api.client.get(f"{api.url}/readyz")
    assert not_ready.status == 503
    assert (await not_ready.json())["error"] == "no_smsc_binds"
    await report_worker_health(api.redis, api.keys, "host-1", 0)
    assert (await api.client.get(f"{api.url}/readyz")).status == 503
    await report_worker_health(api.redis, api.keys, "host-2", 2)
    ready = await api.client.get(f"{api.url}/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "redis": True, "workers": 1, "binds": 2}


async def test_metrics_show_depth_states_windows_and_latency(api: RunningApi) -> None:
    await api.post_jobs([job(i, priority=3) for i in range(25)] + [job(100 + i, kind="reply") for i in range(3)])
    await api.post_jobs(job(999, to="1"))
    await api.redis.zadd(api.keys.delayed(3), {"later": 1})
    await api.redis.hset(api.keys.stats, "orphan_receipts_dropped", 7)
    response = await api.client.get(f"{api.url}/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    text = await response.text()
    for line in (
        'taxsms_queue_depth{lane="3"} 25.0',
        'taxsms_queue_depth{lane="0"} 3.0',
        'taxsms_queue_delayed{lane="3"} 1.0',
        'taxsms_jobs{state="queued"} 28.0',
        'taxsms_jobs_final_total{state="dead_lettered"} 1.0',
        "taxsms_jobs_sent_total 0.0",
        'taxsms_stored{what="dead_letters"} 1.0',
        'taxsms_stored{what="orphan_receipts"} 0.0',
        'taxsms_dispatch_events_total{name="orphan_receipts_dropped"} 7.0',
        'taxsms_send_window_open{kind="notice"} 1.0',
        "taxsms_redis_up 1.0",
        'taxsms_send_window_open{kind="reply"} 1.0',
        'taxsms_api_request_seconds_count{method="POST",route="/v1/jobs",status="200"} 1.0',
        'taxsms_api_request_seconds_count{method="POST",route="/v1/jobs",status="422"} 1.0',
    ):
        assert line in text, line
    assert 'taxsms_send_window_open{kind="internal"}' in text
    assert "13900000001" not in text


async def test_usage_per_unit_and_kind(api: RunningApi) -> None:
    await api.redis.hset(
        api.keys.usage("2026-11"), mapping={"city-01|notice": 120, "city-01|reply": 7, "city-02|notice": 99}
    )
    response = await api.client.get(f"{api.url}/v1/usage?month=2026-11", headers=api.auth())
    assert await response.json() == {
        "month": "2026-11",
        "units": {"city-01": {"notice": 120, "reply": 7}},
        "total": 127,
    }
    everything = await api.token_for("province", recipient_units={"*"})
    response = await api.client.get(f"{api.url}/v1/usage?month=2026-11", headers=api.auth(everything))
    assert (await response.json())["total"] == 226
    bad = await api.client.get(f"{api.url}/v1/usage?month=2026-13", headers=api.auth())
    assert bad.status == 400 and (await bad.json())["error"] == "bad_request"


async def test_openapi_documents_every_served_route(api: RunningApi) -> None:
    doc = await (await api.client.get(f"{api.url}/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    served = {
        (route.method, route.resource.canonical)
        for route in api.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert served == documented
    assert {"/v1/jobs", "/v1/jobs/{id}", "/v1/usage", "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])
    post = doc["paths"]["/v1/jobs"]["post"]
    assert post["security"] == [{"bearerAuth": []}]
    assert {"200", "202", "401", "403", "413", "422", "429"} <= set(post["responses"])
    assert "Job" in doc["components"]["schemas"]


async def test_unknown_paths_and_methods_get_json_errors(api: RunningApi) -> None:
    missing = await api.client.get(f"{api.url}/nope")
    assert missing.status == 404 and (await missing.json())["error"] == "not_found"
    wrong = await api.client.delete(f"{api.url}/v1/usage")
    assert wrong.status == 405 and (await wrong.json())["error"] == "method_not_allowed"
    assert missing.headers["X-Content-Type-Options"] == "nosniff"


async def test_redis_down_is_503_not_500_and_metrics_say_redis_is_down(keys: Keys) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    runner, url = await start_site(create_app(dead, keys))
    try:
        async with aiohttp.ClientSession() as client:
            ready = await client.get(f"{url}/readyz")
            assert ready.status == 503 and (await ready.json())["error"] == "redis_unavailable"
            post = await client.post(f"{url}/v1/jobs", json=job(1), headers={"Authorization": "Bearer tsk_x"})
            assert post.status == 503 and (await post.json())["error"] == "unavailable"
            metrics = await client.get(f"{url}/metrics")  # the API's own metrics are not lost with Redis
            text = await metrics.text()
            assert metrics.status == 200 and "taxsms_redis_up 0.0" in text
            assert 'taxsms_api_request_seconds_count{method="GET",route="/readyz",status="503"} 1.0' in text
    finally:
        await runner.cleanup()
        await dead.aclose()
