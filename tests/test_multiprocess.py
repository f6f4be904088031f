"""Three worker processes share one Redis and one SMSC link; one is killed with SIGKILL mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import msgspec
from conftest import sender, wait_until
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.queue.jobs import FINAL_STATES
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore

JOBS = 3000
WINDOW = 16


def start_worker(redis_url: str, keys: Keys, port: int, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TAXSMS_WORKER_CLAIM_IDLE_S": "1.0",
        "TAXSMS_SEND_WINDOW": "00:00-24:00",
        "TAXSMS_WORKER_UNKNOWN_SUBSCRIPTION": "send",
        "TAXSMS_WORKER_DAILY_CAPS": "",
        "TAXSMS_WORKER_BLOCK_MS": "50",
    }
    command = [sys.executable, "-m", "taxsms", "worker", "--redis-url", redis_url, "--prefix", keys.prefix]
    command += ["--smsc", f"127.0.0.1:{port}", "--window", str(WINDOW), "--consumer", name, "--tps", "1200"]
    return subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)


async def test_kill_9_of_one_worker_loses_nothing_and_duplicates_at_most_its_window(
    redis: Redis, redis_url: str, keys: Keys
) -> None:
    lines = [
        msgspec.json.encode({"id": f"m{i}", "kind": "overdue_filing", "to": f"139{i:08d}", "text": f"通知{i}"})
        for i in range(JOBS)
    ]
    await (await sender(redis, keys)).enqueue(lines)
    store = JobStore(redis, keys)
    # The SMSC accepts 400/s; the three workers together are allowed 1,200/s and reach far more than 400/s even
    # on a loaded machine: it throttles them.
    async with SmscSimulator(SimulatorConfig(tps=400, latency_ms=5, dlr_ms=20)) as sim:
        workers = [start_worker(redis_url, keys, sim.port, f"w{i}") for i in range(3)]
        try:
            await wait_until(lambda: sim.stats.accepted > JOBS // 3, timeout=60)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()

            async def all_final() -> bool:
                counts = await store.counts()
                return sum(counts[s] for s in FINAL_STATES) >= JOBS

            await wait_until(all_final, timeout=90)
        finally:
            for proc in workers[1:]:
                proc.send_signal(signal.SIGTERM)
            for proc in workers[1:]:
                proc.wait(timeout=30)
        counts = await store.counts()
        print(
            f"\nkill -9 of one of 3 workers: accepted {sim.stats.accepted}, duplicates {sim.stats.duplicates} "
            f"(bound {WINDOW}), throttled {sim.stats.throttled}, final {sum(counts[s] for s in FINAL_STATES)}"
        )
        assert counts["delivered"] + counts["undelivered"] == JOBS
        assert counts["queued"] == counts["submitting"] == counts["submitted"] == counts["delayed"] == 0
        assert sim.stats.accepted - sim.stats.duplicates == JOBS  # every job reached the SMSC
        # The killed worker's unrecorded jobs, at the SMSC or answered and not yet recorded: one window (the
        # Sender's slots, dispatcher/sending.py); usually far fewer.
        assert sim.stats.duplicates <= WINDOW
        assert sim.stats.throttled > 0  # the SMSC limit was really below the workers' speed
        await asyncio.sleep(0)
