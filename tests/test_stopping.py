"""The worker stops on SIGTERM/SIGINT within seconds in every state, and survives a Redis that lost its data."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import pytest
from conftest import sender, wait_until
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer, free_port
from taxsms.queue.store import JobStore, lost_groups

STOP_WITHIN_S = 5.0  # the bound for the process: stop_timeout_s (3 s) to shut down, the rest to exit
# The library's Worker in a process of its own, stopped by signals the way `taxsms worker` is.
WORKER_PROCESS = textwrap.dedent(
    """
    import asyncio, signal, sys
    from taxsms.dispatcher.worker import Worker, WorkerConfig

    async def main() -> None:
        worker = Worker(WorkerConfig(redis_url=sys.argv[1], smsc_port=int(sys.argv[2]), block_ms=50,
                                     send_window="00:00-24:00", unknown_subscription="send", daily_caps=""))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        print("ready", flush=True)
        await worker.run()

    asyncio.run(main())
    """
)


def jobs(n: int, start: int = 0) -> list[bytes]:
    return [
        msgspec.json.encode({"id": f"s{i}", "kind": "overdue_filing", "to": f"139{i:08d}", "text": f"通知{i}"})
        for i in range(start, start + n)
    ]


def start_worker(redis_url: str, smsc_port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_PROCESS, redis_url, str(smsc_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
    return process


async def seconds_to_exit(process: subprocess.Popen[bytes], sig: signal.Signals) -> float:
    started = time.monotonic()
    process.send_signal(sig)
    while process.poll() is None and time.monotonic() - started < 30:
        await asyncio.sleep(0.02)
    if process.poll() is None:
        process.kill()
        process.wait()
    return time.monotonic() - started


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_worker_with_redis_down_at_start_stops_on_a_signal(sig: signal.Signals) -> None:
    process = start_worker(f"redis://127.0.0.1:{free_port()}/0", free_port())  # nothing listens on either
    await asyncio.sleep(1.5)  # it is retrying Redis by now
    assert process.poll() is None, "the worker should wait for Redis, not give up"
    assert await seconds_to_exit(process, sig) < STOP_WITHIN_S


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_worker_stops_on_a_signal_mid_run_while_redis_is_down(
    own_redis: RedisServer, keys: Keys, sig: signal.Signals
) -> None:
    redis = Redis.from_url(own_redis.url)
    await (await sender(redis, Keys("taxsms", 1))).enqueue(jobs(3000))
    async with SmscSimulator(SimulatorConfig(tps=300, dlr_ms=20)) as sim:
        process = start_worker(own_redis.url, sim.port)
        try:
            await wait_until(lambda: sim.stats.accepted > 100)
            own_redis.kill()
            await asyncio.sleep(1.0)  # reads, claims, records and rate-limit calls are all failing now
            assert await seconds_to_exit(process, sig) < STOP_WITHIN_S
        finally:
            if process.poll() is None:
                process.kill()
    await redis.aclose()


async def test_a_redis_that_comes_back_empty_gets_its_groups_recreated(
    tmp_path: Path, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=False)  # no persistence: a restart loses everything
    server.start()
    redis = Redis.from_url(server.url)
    try:
        async with SmscSimulator(SimulatorConfig(dlr_ms=20)) as sim:
            config = WorkerConfig(
                redis_url=server.url, prefix=keys.prefix, smsc_port=sim.port, block_ms=50,
                send_window="00:00-24:00", unknown_subscription="send", daily_caps="",
            )  # fmt: skip
            worker = Worker(config)
            task = asyncio.create_task(worker.run())
            await (await sender(redis, keys)).enqueue(jobs(50))
            await wait_until(lambda: sim.stats.accepted >= 50)
            with caplog.at_level(logging.ERROR, logger="taxsms.dispatcher.redis_calls"):
                server.kill()
                (tmp_path / "redis" / "dump.rdb").unlink(missing_ok=True)
                server.start()
                await redis.connection_pool.disconnect()  # the test's own connections died with the server
                await (await sender(redis, keys)).enqueue(jobs(50, start=1000))
                await wait_until(lambda: sim.stats.accepted >= 100)
            assert not task.done(), "the worker died"
            assert any("lost the consumer groups" in r.getMessage() for r in caplog.records)
            assert (await JobStore(redis, keys).counts())["submitted"] + sim.stats.receipts_sent >= 50
            worker.stop()
            await task
    finally:
        await redis.aclose()
        server.kill()


def test_a_lost_group_is_recognised_also_in_a_pipelines_error() -> None:
    nogroup = "NOGROUP No such key '{t0:0}:stream:lane0' or consumer group 'dispatchers'"
    assert lost_groups(ResponseError(nogroup))
    command = "XAUTOCLAIM {t0:0}:stream:lane0 dispatchers w 1000 0-0 COUNT 10"
    piped = f'Command # 1 ({command}) of pipeline caused error: ("{nogroup}",)'  # as redis-py words it
    assert lost_groups(ResponseError(piped))
    assert not lost_groups(ResponseError('Command # 1 (EVALSHA x 1 NOGROUP ) of pipeline caused error: ("ERR x",)'))
