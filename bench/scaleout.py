"""Scale out on one host: `taxsms worker --processes N` for N = 1, 2 and the number of cores.

Each run enqueues the same jobs, starts the SMSC simulator (0 ms latency, receipts 5 ms later) and one
`taxsms worker --processes N` (one bind per process, window 64), and times from the first claim to the last
receipt recorded. It reports the rate, where the CPU went (the workers, all N, redis-server and the simulator,
each as a share of one core, and the three together as a share of the machine), where the workers' send loops
waited (for a claimed job: reading and claiming; for a slot: the SMSC's answers and the outcome writes), and
what N minimal raw clients (`rawclient.py`, window 64 each, no Redis) reach through the same simulator right
after, so the limit shows: a component at a whole core, the machine's cores all busy, or neither (then the
round trips each message waits for).

    python bench/scaleout.py [--jobs 40000] [--processes 1,2,4] [--json bench/results/scaleout.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import psutil
from redis.asyncio import Redis

from taxsms import runtime
from taxsms.dispatcher.processes import cpu_count
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer, free_port

from common import RESULTS, enqueue, job_lines, start_worker, until_final, write_json
from rawclient import raw_run
from throughput import sender_waits, start_simulator


@dataclass
class ScaleRun:
    processes: int
    jobs: int
    seconds: float
    msg_per_s: float
    workers_cpu_pct: float  # of one core, all N worker processes together
    redis_cpu_pct: float
    simulator_cpu_pct: float
    machine_cpu_pct: float = 0.0  # workers + redis + simulator, of all the cores
    pct_waiting_for_job: float = 0.0  # of the run's time, mean over the N send loops
    pct_waiting_for_slot: float = 0.0
    raw_msg_per_s: float = 0.0  # N raw clients (one bind each, same window) through the same simulator
    pct_of_raw: float = 0.0
    limit: str = ""


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
    base = _free_ports(processes)  # worker i serves its metrics on base + i
    metrics = [f"http://127.0.0.1:{base + i}/metrics" for i in range(processes)]
    worker = start_worker(
        redis_url, prefix, sim_port, "--window", "64", "--processes", str(processes), "--metrics-port", str(base)
    )
    supervisor, redis_proc, sim_proc = psutil.Process(worker.pid), psutil.Process(redis_pid), psutil.Process(sim_pid)
    try:
        async with aiohttp.ClientSession() as http:

            async def snapshot() -> tuple[tuple[float, float, float], dict[str, float]]:
                return (tree_cpu(supervisor), tree_cpu(redis_proc), tree_cpu(sim_proc)), await _waits(http, metrics)

            seconds, first = await until_final(redis, keys, jobs, worker, snapshot)
            (cpu0, waits0), (cpu1, waits1) = first or await snapshot(), await snapshot()
    finally:
        worker.terminate()
        worker.wait(30)
        await redis.aclose()
    workers, redis_pct, sim_pct = (100 * (b - a) / seconds for a, b in zip(cpu0, cpu1, strict=True))
    waited = {what: (waits1[what] - waits0.get(what, 0.0)) / processes for what in waits1}
    run = ScaleRun(
        processes, jobs, seconds, jobs / seconds, workers, redis_pct, sim_pct,
        machine_cpu_pct=(workers + redis_pct + sim_pct) / cpu_count(),
        pct_waiting_for_job=100 * waited.get("job", 0.0) / seconds,
        pct_waiting_for_slot=100 * waited.get("slot", 0.0) / seconds,
    )  # fmt: skip
    raws = await asyncio.gather(*(raw_run(sim_port, jobs // processes, 64) for _ in range(processes)))
    run.raw_msg_per_s = sum(r.jobs for r in raws) / max(r.seconds for r in raws)
    run.pct_of_raw = 100 * run.msg_per_s / run.raw_msg_per_s
    run.limit = limit_of(run)
    return run


def _free_ports(n: int) -> int:
    """A port p with p .. p + n - 1 all free now."""
    while True:
        base = free_port()
        try:
            with contextlib.ExitStack() as held:
                for port in range(base, base + n):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue


async def _waits(http: aiohttp.ClientSession, urls: list[str]) -> dict[str, float]:
    """The send loops' wait seconds by cause, summed over the worker processes (0 for one not serving yet)."""
    total: dict[str, float] = {"job": 0.0, "slot": 0.0}
    for url in urls:
        try:
            for what, seconds in (await sender_waits(http, url)).items():
                total[what] = total.get(what, 0.0) + seconds
        except aiohttp.ClientError:
            pass
    return total


def limit_of(run: ScaleRun) -> str:
    """What held the run back, read off its figures."""
    cores = [(run.redis_cpu_pct, "redis-server"), (run.simulator_cpu_pct, "the SMSC simulator")]
    cores.append((run.workers_cpu_pct / run.processes, "each worker"))
    busiest, name = max(cores)
    if busiest >= 90:
        return f"{name} at a whole core ({busiest:.0f} %)"
    if run.machine_cpu_pct >= 90:
        return f"the cores, all {run.machine_cpu_pct:.0f} % busy"
    waiting = (
        "a slot (answers, outcome writes)"
        if run.pct_waiting_for_slot > run.pct_waiting_for_job
        else "a claimed job (reads and claims)"
    )
    return (
        f"no component at a core (busiest: {name}, {busiest:.0f} %); the send loops wait for {waiting}, "
        "whose round trips queue in redis-server and in the workers' loops"
    )


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
                    f"--processes {n}: {run.msg_per_s:>8,.0f} msg/s ({run.pct_of_raw:.0f} % of {n} raw clients' "
                    f"{run.raw_msg_per_s:,.0f})   CPU (% of a core): workers {run.workers_cpu_pct:.0f}, redis "
                    f"{run.redis_cpu_pct:.0f}, simulator {run.simulator_cpu_pct:.0f} (machine "
                    f"{run.machine_cpu_pct:.0f} %)   waiting for a job {run.pct_waiting_for_job:.0f} %, a slot "
                    f"{run.pct_waiting_for_slot:.0f} %\n    limit: {run.limit}",
                    flush=True,
                )
        finally:
            sim.terminate()
            sim.wait(10)
    print(f"\n{cpu_count()} cores.")
    write_json(args.json, {"runs": [asdict(r) for r in runs]})


if __name__ == "__main__":
    runtime.run(main())
