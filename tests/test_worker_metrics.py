"""`taxsms worker --metrics-port`: its /metrics scraped while it sends, and its start-up and bind log lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import aiohttp
import msgspec
from conftest import sender
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.queue.keys import Keys
from taxsms.queue.server import free_port
from taxsms.queue.store import JobStore
from tests.test_worker import wait_until

JOBS = 600


async def scrape(url: str) -> dict[str, float]:
    """Every sample of one scrape, keyed 'name{label=value,...}' (labels sorted) or 'name'."""
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        assert response.status == 200
        text = await response.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "link")
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_worker_metrics_while_it_sends(redis: Redis, redis_url: str, keys: Keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = [
        msgspec.json.encode({"id": f"x{i}", "kind": "overdue_filing", "to": f"139{i:08d}", "text": f"通知{i}"})
        for i in range(JOBS)
    ]
    await (await sender(redis, keys)).enqueue(lines)
    port = free_port()
    env = {
        **os.environ,
        "TAXSMS_SEND_WINDOW": "00:00-24:00",
        "TAXSMS_WORKER_UNKNOWN_SUBSCRIPTION": "send",
        "TAXSMS_WORKER_DAILY_CAPS": "",
        "TAXSMS_SMPP_PASSWORD": "pw",
    }
    log = tmp_path / "worker.log"
    async with SmscSimulator(SimulatorConfig(latency_ms=40, dlr_ms=20)) as sim:
        command = [sys.executable, "-m", "taxsms", "worker", "--redis-url", redis_url, "--prefix", keys.prefix]
        command += ["--smsc", f"127.0.0.1:{sim.port}", "--window", "8", "--binds", "2", "--metrics-port", str(port)]
        with log.open("wb") as err:
            proc = subprocess.Popen(command, env=env, stderr=err)
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            during: dict[str, float] = {}

            async def sending() -> bool:
                nonlocal during
                try:
                    during = await scrape(url)
                except aiohttp.ClientConnectionError:
                    return False
                return during["taxsms_segments_sent_total"] > 0 and during["taxsms_smpp_window_in_flight"] > 0

            await wait_until(sending, timeout=60)
            assert sim.stats.accepted < JOBS  # scraped while it was still sending
            assert during["taxsms_smpp_binds_up"] == 2 and during["taxsms_smpp_binds"] == 2
            assert during["taxsms_smpp_window_size"] == 16
            assert 0 < during["taxsms_smpp_window_in_flight"] <= 16
            assert during["taxsms_submit_latency_seconds_count"] > 0
            assert during["taxsms_submit_latency_seconds_bucket{le=0.025}"] == 0  # the SMSC answers after 40 ms
            assert during["taxsms_smpp_submits_total{outcome=accepted}"] > 0

            store = JobStore(redis, keys)
            await wait_until(lambda: sim.stats.accepted >= JOBS, timeout=60)
            after = await scrape(url)
            assert after["taxsms_segments_sent_total"] >= during["taxsms_segments_sent_total"]
            assert after["taxsms_segments_sent_total"] == after["taxsms_smpp_submits_total{outcome=accepted}"]
            assert after["taxsms_worker_redis_errors_total"] == 0
            # 600 jobs through 16 slots answered after 40 ms take >= 1.5 s, nearly all of it waiting for a slot
            assert after["taxsms_sender_wait_seconds_total{waiting_for=slot}"] >= 1.0
            assert after["taxsms_sender_wait_seconds_total{waiting_for=rate}"] == 0  # no --tps
            assert after["taxsms_sender_wait_seconds_total{waiting_for=job}"] >= 0
            assert (await store.counts())["dead_lettered"] == 0
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    text = log.read_text()
    assert f"taxsms worker 0.1.0 starting: redis={redis_url} prefix={keys.prefix} smsc=127.0.0.1:{sim.port}" in text
    assert "binds=2 window=8 tps=unlimited" in text and "send_windows='00:00-24:00 (reply: any time)'" in text
    assert f"bind-1: bound to 127.0.0.1:{sim.port}" in text and "Traceback" not in text
