"""Scale out on one host: `taxsms worker --processes N` for N = 1, 2 and the number of cores.

Each run enqueues the same jobs, starts the SMSC simulator (0 ms latency, receipts 5 ms later) and one
`taxsms worker --processes N` (one bind per process, window 64), and times from the first claim to the last
receipt recorded. It reports the rate and where the CPU went — the workers (all N), redis-server and the
simulator — so the limit shows: when Redis or the simulator uses a whole core, more workers cannot help.

    python bench/scaleout.py [--jobs 40000] [--processes 1,2,4] [--json bench/results/scaleout.json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from redis.asyncio import Redis

from taxsms import runtime
from taxsms.dispatcher.processes import cpu_count
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer, free_port

from common import RESULTS, enqueue, job_lines, start_worker, write_json
from throughput import start_simulator


@dataclass
class ScaleRun:
    processes: int
    jobs: int
    seconds: float
    msg_per_s: float
    workers_cpu_pct: float  # of one core, all N worker processes together
    redis_cpu_pct: float
    simulator_cpu_pct: float


def tree_cpu(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


async def scale_run(redis_url: str, redis_pid: int, sim_port: int, sim_pid: int, processes: int, jobs: int) -> ScaleRun:
    prefix = f"scale-{processes}-{time.time_ns()}"
    redis = Redis.from_url(redis_url)
    keys = Keys(prefix, 1)
    await enqueue(redis, keys, job_lines(jobs, prefix))
    worker = start_worker(redis_url, prefix, sim_port, "--window", "64", "--processes", str(processes))
    supervisor, redis_proc, sim_proc = psutil.Process(worker.pid), psutil.Process(redis_pid), psutil.Process(sim_pid)
    started = None
    try:
        while True:
            queued, *outcomes = await redis.hmget(keys.counts, "queued", "delivered", "undelivered", "failed")
            if started is None and int(queued or 0) < jobs:
                started = time.perf_counter()
                cpu0 = (tree_cpu(supervisor), tree_cpu(redis_proc), tree_cpu(sim_proc))
            if sum(int(v) for v in outcomes if v) >= jobs:
                break
            if worker.poll() is not None:
                raise RuntimeError("worker exited")
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - started  # type: ignore[operator]
        cpu1 = (tree_cpu(supervisor), tree_cpu(redis_proc), tree_cpu(sim_proc))
    finally:
        worker.terminate()
        worker.wait(30)
        await redis.aclose()
    pct = [100 * (b - a) / seconds for a, b in zip(cpu0, cpu1, strict=True)]
    return ScaleRun(processes, jobs, seconds, jobs / seconds, *pct)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=40_000)
    parser.add_argument("--processes", help="comma-separated process counts (default 1, 2 and the cores)")
    parser.add_argument("--json", type=Path, default=RESULTS / "scaleout.json")
    args = parser.parse_args()
    counts = sorted({1, 2, cpu_count()}) if not args.processes else [int(v) for v in args.processes.split(",")]
    runs: list[ScaleRun] = []
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        port = free_port()
        sim = start_simulator(port, 0)
        try:
            assert server.process is not None
            for n in counts:
                run = await scale_run(server.url, server.process.pid, port, sim.pid, n, args.jobs)
                runs.append(run)
                print(
                    f"--processes {n}: {run.msg_per_s:>8,.0f} msg/s   CPU (% of a core): workers "
                    f"{run.workers_cpu_pct:.0f}, redis {run.redis_cpu_pct:.0f}, simulator {run.simulator_cpu_pct:.0f}",
                    flush=True,
                )
        finally:
            sim.terminate()
            sim.wait(10)
    print(f"\n{os.cpu_count()} cores; a component near 100 % of a core is the limit.")
    write_json(args.json, {"runs": [asdict(r) for r in runs]})


if __name__ == "__main__":
    runtime.run(main())
