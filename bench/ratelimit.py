"""Shared rate limit accuracy: 4 worker processes on one SMSC link limited to 1,000 segments/s.

The SMSC simulator runs in this process and counts accepted submit_sm (segments) per 1-second window of
its clock; it answers ESME_RTHROTTLED above 1,010 per window (the contract's 1% tolerance), so a limiter
that overshoots shows up as throttles. One job in five is a 2-part message: the limit counts segments.
The first and last (partial) seconds are left out of the figures.

    python bench/ratelimit.py [--seconds 20] [--tps 1000] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from taxsms import runtime
from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.queue.intake import enqueue_lines
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer

from common import RESULTS, TEXT, job_lines, start_worker, write_json

LONG_TEXT = TEXT + "逾期申报将按规定加收滞纳金并影响纳税信用评价，如有疑问请拨打12366咨询。"  # 2 UCS2 parts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the run should last")
    parser.add_argument("--tps", type=float, default=1000.0, help="the shared limit, segments per second")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path, default=RESULTS / "ratelimit.json")
    args = parser.parse_args()
    tolerance = args.tps * 1.01
    segments_wanted = int(args.tps * args.seconds)
    singles = int(segments_wanted / 1.2 * 0.8)
    doubles = int(segments_wanted / 1.2 * 0.2)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        sim = SmscSimulator(SimulatorConfig(tps=tolerance, latency_ms=2, dlr_ms=50))
        await sim.start()
        redis = Redis.from_url(server.url)
        prefix = f"rate-{time.time_ns()}"
        lines = job_lines(singles, prefix, kind="notice") + job_lines(
            doubles, prefix + "L", kind="notice", text=LONG_TEXT, phone_base=singles
        )
        await enqueue_lines(redis, Keys(prefix), lines)
        total = singles + 2 * doubles
        print(f"{singles + doubles:,} jobs = {total:,} segments; {args.workers} workers sharing --tps {args.tps:g}")
        workers = [
            start_worker(server.url, prefix, sim.port, "--tps", str(args.tps), "--window", "64", "--consumer", f"w{i}")
            for i in range(args.workers)
        ]
        try:
            started = time.monotonic()
            while sim.stats.accepted < total:
                await asyncio.sleep(0.1)
                if time.monotonic() - started > args.seconds * 3 + 30:
                    raise RuntimeError(f"only {sim.stats.accepted} of {total} segments accepted")
            elapsed = time.monotonic() - started
        finally:
            for proc in workers:
                proc.terminate()
            for proc in workers:
                proc.wait(30)
            await redis.aclose()
            await sim.stop()
    per_second = sorted(sim.stats.accepted_per_second.items())
    full = [count for _, count in per_second[1:-1]]
    result = {
        "tps": args.tps,
        "workers": args.workers,
        "segments": total,
        "seconds": round(elapsed, 2),
        "windows": len(full),
        "max": max(full),
        "mean": round(statistics.fmean(full), 1),
        "min": min(full),
        "throttled": sim.stats.throttled,
        "per_second": full,
    }
    print(f"\n{'limit':>7}{'workers':>9}{'1-s windows':>13}{'max':>7}{'mean':>9}{'min':>7}{'throttles':>11}")
    print(
        f"{args.tps:>7,.0f}{args.workers:>9}{len(full):>13}{result['max']:>7}{result['mean']:>9}"
        f"{result['min']:>7}{sim.stats.throttled:>11}"
    )
    ok = result["max"] <= args.tps * 1.01 and result["mean"] >= args.tps * 0.99 and not sim.stats.throttled
    print(f"target: every window <= {args.tps * 1.01:,.0f}, mean >= {args.tps * 0.99:,.0f}, 0 throttles: ", end="")
    print("met" if ok else "NOT met")
    write_json(args.json, result)


if __name__ == "__main__":
    runtime.run(main())
