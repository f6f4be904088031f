"""`taxsms worker --processes N`: N worker processes behind one supervisor, sharing the groups and the budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import msgspec
from conftest import sender, wait_until
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.dispatcher.processes import child_argv
from taxsms.queue.jobs import FINAL_STATES
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore

JOBS = 600
TEXT = "【某市税务局】您本月增值税申报期限为15日，请及时申报。"


def test_each_child_gets_its_own_consumer_and_metrics_port_and_no_processes_flag() -> None:
    argv = ["worker", "--processes", "3", "--consumer=w", "--metrics-port", "9100", "--window", "64"]
    assert child_argv(argv, 2, consumer="w", metrics_port=9100) == [
        "worker", "--window", "64", "--processes", "1", "--consumer", "w-p2", "--metrics-port", "9102",
    ]  # fmt: skip
    assert "--metrics-port" not in child_argv(["worker"], 0, consumer="", metrics_port=0)


async def test_two_processes_share_the_work_and_stop_together_on_sigterm(
    redis: Redis, redis_url: str, keys: Keys
) -> None:
    lines = [
        msgspec.json.encode({"id": f"p{i}", "kind": "filing_reminder", "to": f"139{i:08d}", "text": f"{TEXT}{i}"})
        for i in range(JOBS)
    ]
    await (await sender(redis, keys)).enqueue(lines)
    store = JobStore(redis, keys)
    env = {
        **os.environ,
        "TAXSMS_SEND_WINDOW": "00:00-24:00",
        "TAXSMS_WORKER_UNKNOWN_SUBSCRIPTION": "send",
        "TAXSMS_WORKER_DAILY_CAPS": "",
    }
    async with SmscSimulator(SimulatorConfig(latency_ms=5, dlr_ms=5)) as sim:
        command = [sys.executable, "-m", "taxsms", "worker", "--redis-url", redis_url, "--prefix", keys.prefix]
        command += ["--smsc", f"127.0.0.1:{sim.port}", "--consumer", "host", "--processes", "2", "--tps", "400"]
        supervisor = subprocess.Popen(command, env=env)
        try:

            async def all_final() -> bool:
                counts = await store.counts()
                return sum(counts[s] for s in FINAL_STATES) >= JOBS

            await wait_until(lambda: sim.stats.binds >= 2, timeout=60)
            await wait_until(all_final, timeout=90)
            consumers = {c["name"] for g in await redis.xinfo_groups(keys.lane(2)) for c in
                         await redis.xinfo_consumers(keys.lane(2), g["name"])}  # fmt: skip
        finally:
            supervisor.send_signal(signal.SIGTERM)
            code = supervisor.wait(timeout=30)
    assert code == 0
    assert {b"host-p0", b"host-p1"} <= consumers
    counts = await store.counts()
    assert counts["delivered"] == JOBS, {k: v for k, v in counts.items() if v}
    assert sim.stats.duplicates == 0


async def test_a_child_that_dies_stops_the_others_and_the_supervisor_reports_it(redis_url: str, keys: Keys) -> None:
    async with SmscSimulator(SimulatorConfig()) as sim:
        command = [sys.executable, "-m", "taxsms", "worker", "--redis-url", redis_url, "--prefix", keys.prefix]
        command += ["--smsc", f"127.0.0.1:{sim.port}", "--processes", "2"]
        supervisor = subprocess.Popen(command, env={**os.environ, "TAXSMS_SEND_WINDOW": "00:00-24:00"})
        try:
            await wait_until(lambda: sim.stats.binds >= 2, timeout=60)
            children = [int(pid) for pid in subprocess.check_output(["pgrep", "-P", str(supervisor.pid)]).split()]
            assert len(children) == 2
            os.kill(children[0], signal.SIGKILL)
            code = supervisor.wait(timeout=30)
        finally:
            if supervisor.poll() is None:
                supervisor.kill()
    assert code == 128 + signal.SIGKILL
    assert not os.path.exists(f"/proc/{children[1]}")  # stopped and reaped by the supervisor
