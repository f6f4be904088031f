"""Where a message's CPU goes: one throughput run (0 ms, window 64) with the worker under py-spy and Redis's
own per-command accounting.

Prints the worker's and Redis's CPU per message (as bench/throughput.py counts them), then Redis's time per
message by command (INFO commandstats: EVALSHA includes what its scripts call), the bytes per message each
way, and, with py-spy installed (`pip install py-spy`), the worker's hottest functions by self and inclusive
time (start-up and idle loop left out). The raw py-spy samples go to --raw for a flame graph.

    python bench/profile_worker.py [--jobs 24000] [--window 64] [--latency-ms 0] [--raw bench/results/worker.raw]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from redis.asyncio import Redis

from taxsms.queue.server import RedisServer, free_port

import throughput
from common import RESULTS, start_worker

IGNORED = ("importlib", "_find_and_load", "build_parser")  # start-up


def spied_worker(raw: Path) -> Callable[..., subprocess.Popen[bytes]]:
    """A start_worker for throughput.taxsms_run that runs the worker under py-spy (stopped by SIGINT)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

    def start(redis_url: str, prefix: str, sim_port: int, *args: str) -> subprocess.Popen[bytes]:
        under = [spy, "record", "-r", "250", "-o", str(raw), "-f", "raw", "--nonblocking", "--"]
        proc = start_worker(redis_url, prefix, sim_port, *args, under=under)
        proc.terminate = lambda: proc.send_signal(signal.SIGINT)  # type: ignore[method-assign]  # py-spy writes
        return proc

    return start


def hottest(raw: Path, top: int) -> None:
    """Self and inclusive shares of the worker's busy samples, by function."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            re.sub(r":\d+\)$", ")", re.sub(r" \(/\S*?(site-packages|taxsms)/", r" (\1/", f)) for f in stack.split(";")
        ]
        if any(word in frame for frame in frames for word in IGNORED) or "Runner.run" in frames[-1]:
            continue  # start-up, or the event loop waiting
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\nworker, {title} time (% of {total} busy samples)")
        for frame, n in [(f, n) for f, n in counter.most_common(top + 10) if n < 0.9 * total][:top]:
            print(f"{100 * n / total:6.1f} %  {frame}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=24_000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--raw", type=Path, default=RESULTS / "worker.raw")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    profiling = shutil.which("py-spy") is not None or Path(sys.executable).with_name("py-spy").exists()
    if profiling:
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        throughput.start_worker = spied_worker(args.raw)
    else:
        print("py-spy not installed: Redis figures only (pip install py-spy for the worker's profile)")
    throughput.jobs_for = lambda _latency, _window: args.jobs
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        assert server.process is not None
        port = free_port()
        sim = throughput.start_simulator(port, args.latency_ms)
        redis = Redis.from_url(server.url)
        try:
            await redis.config_resetstat()
            run = await throughput.taxsms_run(server.url, server.process.pid, port, args.latency_ms, args.window)
            commands, stats = await redis.info("commandstats"), await redis.info("stats")
        finally:
            await redis.aclose()
            sim.terminate()
            sim.wait(10)
    n = run.jobs
    print(f"\n{n} jobs, {run.msg_per_s:,.0f} msg/s", end="")
    print("" if profiling else f"; worker {run.cpu_us_per_msg:.0f} µs/msg", end="")
    busy = sum(c["usec"] for c in commands.values()) / n
    print(f"; redis {run.redis_cpu_us_per_msg:.0f} µs/msg of CPU, {busy:.0f} µs/msg in commands")
    sent, received = stats["total_net_input_bytes"] / n, stats["total_net_output_bytes"] / n
    print(f"redis bytes per message: {sent:,.0f} in, {received:,.0f} out")
    print("\nredis time per message by command (µs; EVALSHA includes the commands its scripts call)")
    for name, c in sorted(commands.items(), key=lambda item: -item[1]["usec"])[: args.top]:
        print(f"{c['usec'] / n:8.1f}  {c['calls'] / n:6.2f} calls  {name.removeprefix('cmdstat_')}")
    if profiling:
        hottest(args.raw, args.top)


if __name__ == "__main__":
    asyncio.run(main())
