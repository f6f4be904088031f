"""A backlog of 5,000 replies and two worker processes: each holds at most its buffer; a kill -9 strands nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import msgspec
from conftest import sender, wait_until
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.queue.jobs import FINAL_STATES, Lane
from taxsms.queue.keys import CONSUMER_GROUP, Keys
from taxsms.queue.store import JobStore
from taxsms.tasks import cancel_and_wait

JOBS = 5000
WINDOW = 16
BATCH = 64
BUFFER = max(BATCH, 2 * WINDOW) + 2 * WINDOW  # the worker's default: a batch, plus two windows in flight
CLAIM_IDLE_S = 1.0


def start_worker(redis_url: str, keys: Keys, port: int, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TAXSMS_WORKER_CLAIM_IDLE_S": str(CLAIM_IDLE_S),
        "TAXSMS_WORKER_BATCH": str(BATCH),
        "TAXSMS_WORKER_BLOCK_MS": "50",
    }
    command = [sys.executable, "-m", "taxsms", "worker", "--redis-url", redis_url, "--prefix", keys.prefix]
    command += ["--smsc", f"127.0.0.1:{port}", "--window", str(WINDOW), "--consumer", name]
    return subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)


async def pending_by_consumer(redis: Redis, stream: str) -> dict[str, int]:
    try:
        summary = await redis.xpending(stream, CONSUMER_GROUP)
    except ResponseError:  # NOGROUP: no worker has started yet
        return {}
    return {c["name"].decode(): int(c["pending"]) for c in summary["consumers"]}


async def test_a_reply_backlog_is_shared_within_buffers_and_a_kill_9_strands_nothing(
    redis: Redis, redis_url: str, keys: Keys
) -> None:
    replies = [
        msgspec.json.encode({"id": f"r{i}", "kind": "reply", "to": f"139{i:08d}", "text": f"【某市税务局】答复{i}"})
        for i in range(JOBS)
    ]
    assert await (await sender(redis, keys)).enqueue(replies) == (JOBS, 0)
    store, stream = JobStore(redis, keys), keys.lane(Lane.REPLY)
    most = {"w0": 0, "w1": 0}

    async def sample() -> None:
        while True:
            for name, n in (await pending_by_consumer(redis, stream)).items():
                most[name] = max(most.get(name, 0), n)
            await asyncio.sleep(0.01)

    async def all_final() -> bool:
        counts = await store.counts()
        return sum(counts[s] for s in FINAL_STATES) >= JOBS

    async with SmscSimulator(SimulatorConfig(latency_ms=5, dlr_ms=20)) as sim:
        workers = [start_worker(redis_url, keys, sim.port, f"w{i}") for i in range(2)]
        sampler = asyncio.create_task(sample())
        try:
            await wait_until(lambda: sim.stats.accepted > JOBS // 3, timeout=60)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            killed = time.monotonic()
            await wait_until(all_final, timeout=CLAIM_IDLE_S + 10)
            took = time.monotonic() - killed
        finally:
            await cancel_and_wait(sampler)
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
                    worker.wait(15)
        print(
            f"\nreply backlog of {JOBS}: most pending per worker {most} (buffer {BUFFER}); all final {took:.1f} s "
            f"after the kill -9; accepted {sim.stats.accepted}, duplicates {sim.stats.duplicates}"
        )
    assert most["w0"] > 0 and most["w1"] > 0  # both took a share
    assert max(most.values()) <= BUFFER
    counts = await store.counts()
    assert counts["delivered"] == JOBS
    assert sim.stats.accepted - sim.stats.duplicates == JOBS
    # The killed worker's unrecorded jobs (the sender's slots, one bind): at the SMSC or answered and not yet
    # recorded, one window in all.
    assert sim.stats.duplicates <= WINDOW
