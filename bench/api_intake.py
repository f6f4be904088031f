"""HTTP intake throughput: POST /v1/jobs with bulk JSON arrays to a running API process.

Starts a private redis-server and the API (`taxsms.api.serve`) as its own process, like production, then
posts `--requests` arrays of `--batch` jobs each, `--concurrency` requests in flight, and reports jobs/s
(accepted and recorded in Redis: validated, deduplicated, in their lane's stream).

    python bench/api_intake.py [--requests 50] [--batch 10000] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec
from redis.asyncio import Redis

from taxsms import runtime
from taxsms.api.auth import TokenStore
from taxsms.api.keys import ApiKeys
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer, free_port

from common import BENCH_SYSTEM, RESULTS, TEXT, register_sender, write_json

KINDS = ("overdue_filing", "filing_reminder", "overdue_payment", "reply")  # a token sends no notices
SERVE = (
    "import sys; from taxsms import runtime; from taxsms.api.serve import serve; "
    "runtime.run(serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], sys.argv[3]))"
)


def bodies(run: str, requests: int, batch: int) -> list[bytes]:
    def job(r: int, i: int) -> dict[str, str]:
        to, unit = f"139{(r * batch + i) % 10**8:08d}", BENCH_SYSTEM.unit
        return {"id": f"{run}-{r}-{i}", "kind": KINDS[i % 4], "to": to, "text": TEXT, "recipient_unit": unit}

    return [msgspec.json.encode([job(r, i) for i in range(batch)]) for r in range(requests)]


async def wait_listening(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as client:
        while True:
            try:
                async with client.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            await asyncio.sleep(0.1)


async def post_all(url: str, token: str, payloads: list[bytes], concurrency: int) -> tuple[float, dict[str, int]]:
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    queue = list(reversed(payloads))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []

    async def sender(client: aiohttp.ClientSession) -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            async with client.post(f"{url}/v1/jobs", data=body, headers=headers) as response:
                result = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {result}")
            latencies.append(time.perf_counter() - started)
            for name in totals:
                totals[name] += result[name]

    async with aiohttp.ClientSession() as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    totals["p50_ms"] = round(sorted(latencies)[len(latencies) // 2] * 1000)
    totals["max_ms"] = round(max(latencies) * 1000)
    return elapsed, totals


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", type=Path, default=RESULTS / "api_intake.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        prefix = f"api-{time.time_ns()}"
        redis = Redis.from_url(server.url)
        await register_sender(redis, Keys(prefix, 1))  # the unit tree (the token's unit is BENCH_SYSTEM's)
        token, _ = await TokenStore(redis, ApiKeys(Keys(prefix, 1))).create(BENCH_SYSTEM.unit, set(KINDS), {"*"})
        port = free_port()
        api = subprocess.Popen([sys.executable, "-c", SERVE, str(port), server.url, prefix])
        try:
            url = f"http://127.0.0.1:{port}"
            await wait_listening(url)
            payloads = bodies(prefix, args.requests, args.batch)
            size = sum(map(len, payloads)) / len(payloads)
            print(f"{args.requests} requests x {args.batch:,} jobs ({size / 1e6:.1f} MB each), ", end="")
            print(f"{args.concurrency} in flight")
            await post_all(url, token, bodies(prefix + "warm", 2, 1000), 1)  # warm-up (scripts loaded, pools)
            elapsed, totals = await post_all(url, token, payloads, args.concurrency)
        finally:
            api.terminate()
            api.wait(10)
            await redis.aclose()
    jobs = args.requests * args.batch
    rate = totals["accepted"] / elapsed
    print(f"\n{'jobs':>10}{'accepted':>10}{'seconds':>9}{'jobs/s':>9}{'p50 ms':>8}{'max ms':>8}")
    print(f"{jobs:>10,}{totals['accepted']:>10,}{elapsed:>9.2f}{rate:>9,.0f}{totals['p50_ms']:>8}{totals['max_ms']:>8}")
    print(f"target >= 20,000 jobs/s: {'met' if rate >= 20_000 else 'NOT met'}")
    result = {
        "requests": args.requests,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "jobs": jobs,
        "seconds": round(elapsed, 3),
        "jobs_per_s": round(rate),
        **totals,
    }
    write_json(args.json, result)


if __name__ == "__main__":
    runtime.run(main())
