"""Auto-reply latency while a campaign runs at full rate.

A worker process sends a campaign of bulk notices at the link's full --tps; meanwhile taxpayers text in
(MO injected by the SMSC simulator, which runs in this process). The reply service (`taxsms replies run`,
its own process) answers each; the figure is MO deliver_sm sent → reply submit_sm accepted by the SMSC,
both on the simulator's clock. Replies travel in lane 0 with a reader of their own, so the campaign should
not delay them: target p99 < 50 ms.

    python bench/replies_under_load.py [--tps 1000] [--mo 300] [--mo-interval-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
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

from common import BENCH_ENV, RESULTS, enqueue, job_lines, start_worker, write_json


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tps", type=float, default=1000.0, help="the link's limit; the campaign fills it")
    parser.add_argument("--mo", type=int, default=300, help="taxpayer messages to inject")
    parser.add_argument("--mo-interval-ms", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=RESULTS / "replies_under_load.json")
    args = parser.parse_args()
    campaign = int(args.tps * (args.mo * args.mo_interval_ms / 1000 + 10))  # outlasts the MO phase
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        sim = SmscSimulator(SimulatorConfig(latency_ms=5, dlr_ms=100, keep_accepted=True))
        await sim.start()
        redis = Redis.from_url(server.url)
        prefix = f"replies-{time.time_ns()}"
        # the campaign's bulk lane (notices need an approved campaign: these are reminders with the bulk priority)
        await enqueue(redis, Keys(prefix, 1), job_lines(campaign, prefix, priority=3))
        worker = start_worker(server.url, prefix, sim.port, "--tps", str(args.tps), "--window", "64")
        replies = subprocess.Popen(
            [sys.executable, "-m", "taxsms", "replies", "run", "--redis-url", server.url, "--prefix", prefix],
            env={**os.environ, **BENCH_ENV},
        )
        sent_at: dict[str, float] = {}
        try:
            while sim.stats.accepted < args.tps * 2:  # the campaign is at full rate
                await asyncio.sleep(0.05)
            base = sim.stats.accepted
            started = time.monotonic()
            for i in range(args.mo):
                phone = f"8613700{i:06d}"
                sent_at[phone] = time.monotonic()
                await sim.inject_mo(phone, "12366", "CX 2026-000123" if i % 2 else "KT")
                await asyncio.sleep(args.mo_interval_ms / 1000)
            campaign_rate = (sim.stats.accepted - base) / (time.monotonic() - started)
            deadline = time.monotonic() + 10
            answered: dict[str, float] = {}
            while len(answered) < args.mo and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                for at, destination, _ in sim.accepted_log[-20000:]:
                    if destination in sent_at and destination not in answered:
                        answered[destination] = at
        finally:
            for proc in (worker, replies):
                proc.terminate()
            for proc in (worker, replies):
                proc.wait(30)
            await redis.aclose()
            await sim.stop()
    latencies = sorted((answered[p] - sent_at[p]) * 1000 for p in answered)
    result = {
        "tps": args.tps,
        "campaign_msg_per_s_during_mo": round(campaign_rate, 1),
        "mo": args.mo,
        "answered": len(latencies),
        "p50_ms": round(quantile(latencies, 0.5), 2),
        "p90_ms": round(quantile(latencies, 0.9), 2),
        "p99_ms": round(quantile(latencies, 0.99), 2),
        "max_ms": round(latencies[-1], 2),
        "latencies_ms": [round(v, 2) for v in latencies],
    }
    print(f"\n{'link tps':>9}{'campaign msg/s':>16}{'MO':>6}{'answered':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}")
    print(
        f"{args.tps:>9,.0f}{campaign_rate:>16,.0f}{args.mo:>6}{len(latencies):>10}{result['p50_ms']:>9}"
        f"{result['p90_ms']:>9}{result['p99_ms']:>9}"
    )
    ok = len(latencies) == args.mo and result["p99_ms"] < 50
    print(f"target: every MO answered, p99 < 50 ms: {'met' if ok else 'NOT met'}")
    write_json(args.json, result)


if __name__ == "__main__":
    runtime.run(main())
