"""Shared rate limit, measured where it counts: at the SMSC, over every sliding 1-second window.

For each limit T (`--tps-list`) and number of worker processes (`--workers-list`) sharing it, the SMSC
simulator (in this process, no limit of its own) records the time of every accepted submit_sm (one per
segment); the figure is the most segments in any 1-second window sliding at millisecond resolution (every
window starting at an accept, so no window is missed), against T + 1 %. One job in five is a 2-part message:
the limit counts segments. With `--busy` (default) a busy-looping process shares worker 0's CPU (both pinned
to CPU 0), so one worker runs late, as on a loaded host.

    python bench/ratelimit.py [--seconds 10] [--tps-list 10,100,1000] [--workers-list 1,4,8] [--no-busy]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from taxsms import runtime
from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer

from common import RESULTS, TEXT, enqueue, job_lines, start_worker, write_json

LONG_TEXT = TEXT + "逾期申报将按规定加收滞纳金并影响纳税信用评价，如有疑问请拨打12366咨询。"  # 2 UCS2 parts
BUSY = "while True: pass"


def max_sliding_window(stamps: list[float], width: float = 1.0) -> int:
    """The most stamps in any window [t, t + width) (the maximum is always at a window starting at a stamp)."""
    stamps = sorted(stamps)
    return max((bisect.bisect_left(stamps, t + width) - i for i, t in enumerate(stamps)), default=0)


def pin(pid: int, cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(pid, {cpu})


async def run_once(server: RedisServer, tps: float, workers: int, seconds: float, busy: bool) -> dict[str, object]:
    segments_wanted = int(tps * seconds)
    singles, doubles = max(1, int(segments_wanted / 1.2 * 0.8)), int(segments_wanted / 1.2 * 0.2)
    total = singles + 2 * doubles
    prefix = f"rate-{time.time_ns()}"
    redis = Redis.from_url(server.url)
    lines = job_lines(singles, prefix, kind="overdue_filing") + job_lines(
        doubles, prefix + "L", kind="overdue_filing", text=LONG_TEXT, phone_base=singles
    )
    await enqueue(redis, Keys(prefix, 1), lines)
    sim = SmscSimulator(SimulatorConfig(latency_ms=2, dlr_ms=50, keep_accepted=True))
    await sim.start()
    procs = [
        start_worker(server.url, prefix, sim.port, "--tps", str(tps), "--window", "64", "--consumer", f"w{i}")
        for i in range(workers)
    ]
    hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    if hog is not None:
        pin(procs[0].pid, 0)
        pin(hog.pid, 0)
    try:
        started = time.monotonic()
        while sim.stats.accepted < total:
            await asyncio.sleep(0.05)
            if time.monotonic() - started > seconds * 3 + 60:
                raise RuntimeError(f"only {sim.stats.accepted} of {total} segments accepted")
    finally:
        for proc in [*procs, *([hog] if hog else [])]:
            proc.terminate()
        for proc in [*procs, *([hog] if hog else [])]:
            proc.wait(30)
        await redis.aclose()
        await sim.stop()
    stamps = [stamp for stamp, _, _ in sim.accepted_log]
    span = max(stamps) - min(stamps)
    most = max_sliding_window(stamps)
    return {
        "tps": tps, "workers": workers, "busy": busy, "segments": total, "seconds": round(span, 2),
        "max_1s": most, "bound": round(tps * 1.01, 2), "mean_rate": round((total - 1) / span, 1) if span else 0,
        "ok": most <= tps * 1.01,
    }  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each run should last")
    parser.add_argument("--tps-list", default="10,100,1000", help="limits T to measure")
    parser.add_argument("--workers-list", default="1,4,8", help="numbers of worker processes sharing T")
    parser.add_argument("--no-busy", action="store_true", help="no busy process on worker 0's CPU")
    parser.add_argument("--json", type=Path, default=RESULTS / "ratelimit.json")
    args = parser.parse_args()
    rates = [float(v) for v in args.tps_list.split(",")]
    counts = [int(v) for v in args.workers_list.split(",")]
    results = []
    print(f"{'T':>7}{'workers':>9}{'segments':>10}{'seconds':>9}{'max 1-s window':>16}{'T + 1 %':>9}{'mean/s':>9}  ok")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        for tps in rates:
            for workers in counts:
                r = await run_once(server, tps, workers, args.seconds, not args.no_busy)
                results.append(r)
                print(
                    f"{tps:>7,.0f}{workers:>9}{r['segments']:>10,}{r['seconds']:>9}{r['max_1s']:>16}"
                    f"{r['bound']:>9}{r['mean_rate']:>9}  {'yes' if r['ok'] else 'NO'}",
                    flush=True,
                )
    ok = all(r["ok"] for r in results)
    print(f"target: every sliding 1-s window at the SMSC <= T + 1 %: {'met' if ok else 'NOT met'}")
    write_json(args.json, {"busy": not args.no_busy, "runs": results})


if __name__ == "__main__":
    runtime.run(main())
