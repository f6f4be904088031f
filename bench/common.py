"""What the benchmark scripts share: worker processes, the registered sender and its job lines, JSON results."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from redis.asyncio import Redis

from taxsms.governance.enqueue import enqueue_as
from taxsms.governance.policy import UPSTREAM_KINDS, Principal, PrincipalKind
from taxsms.governance.registry import PrincipalBook
from taxsms.governance.units import Level, Unit, UnitTree, save_units
from taxsms.queue.keys import Keys

RESULTS = Path(__file__).parent / "results"
T = TypeVar("T")
TEXT = "【某市税务局】尊敬的纳税人：您本月增值税申报期限为15日，请及时办理申报。"
#: The example unit tree plus the benchmarks' city-01, whose registered signature is TEXT's 【某市税务局】, and
#: the 12366 centre the reply service answers for by default (signature 【12366】).
BENCH_UNITS = UnitTree([
    *UnitTree.from_file(),
    Unit("city-01", "某市税务局", Level.CITY, "prov"),
    Unit("12366", "省税务局12366纳税服务中心", Level.CITY, "prov", signature="12366"),
])  # fmt: skip
#: The benchmarks' upstream system: every job they queue is admitted for it (signed, reviewed), as in production,
#: so the worker's admission takes the same fast path it takes for real jobs.
BENCH_SYSTEM = Principal(PrincipalKind.SYSTEM, "bench", "city-01", UPSTREAM_KINDS)

#: Benchmarks run at any hour and to made-up phones: open the window, send to phones without a subscription
#: record, no per-phone caps. Everything else is the production default.
BENCH_ENV = {
    "TAXSMS_SEND_WINDOW": "00:00-24:00",
    "TAXSMS_WORKER_UNKNOWN_SUBSCRIPTION": "send",
    "TAXSMS_WORKER_DAILY_CAPS": "",
}


def start_worker(
    redis_url: str, prefix: str, sim_port: int, *args: str, under: Sequence[str] = (), **env: str
) -> subprocess.Popen[bytes]:
    """`taxsms worker` as its own process, like production; `under`: a command it runs under (a profiler)."""
    command = [*under, sys.executable, "-m", "taxsms", "worker", "--redis-url", redis_url, "--prefix", prefix]
    command += ["--smsc", f"127.0.0.1:{sim_port}", "--system-id", "taxsms", *args]
    return subprocess.Popen(command, env={**os.environ, **BENCH_ENV, "TAXSMS_SMPP_PASSWORD": "x", **env})


async def until_final(
    redis: Redis, keys: Keys, jobs: int, worker: subprocess.Popen[bytes], snapshot: Callable[[], Awaitable[T]]
) -> tuple[float, T | None]:
    """Wait until `jobs` jobs of `keys` are final (delivered, undelivered or failed), polling every 5 ms.

    The clock runs from the worker's first claim (its processes started and bound: start-up is not throughput),
    when `snapshot()` is taken; returns the seconds to the last job final and that snapshot (None, and the
    seconds from the call, if every job was final before a claim was seen). Raises if the worker exits.
    """
    called = time.perf_counter()
    started, first = None, None
    while True:
        queued, *outcomes = await redis.hmget(keys.counts, "queued", "delivered", "undelivered", "failed")
        if started is None and int(queued or 0) < jobs:
            started = time.perf_counter()
            first = await snapshot()
        if sum(int(v) for v in outcomes if v) >= jobs:
            return time.perf_counter() - (started or called), first
        if worker.poll() is not None:
            raise RuntimeError("worker exited")
        await asyncio.sleep(0.005)


async def register_sender(redis: Redis, keys: Keys) -> Principal:
    """Load BENCH_UNITS and register BENCH_SYSTEM under `keys`: who job_lines' jobs are sent by."""
    await save_units(redis, keys, BENCH_UNITS)
    await PrincipalBook(redis, keys).register(BENCH_SYSTEM, "the benchmarks' upstream system")
    return BENCH_SYSTEM


async def enqueue(redis: Redis, keys: Keys, lines: list[bytes]) -> int:
    """Admit `lines` for BENCH_SYSTEM (registered first) and enqueue them, as `taxsms enqueue --token` does;
    return how many were added (every one must be admitted)."""
    added, refused = await enqueue_as(redis, keys, lines, await register_sender(redis, keys))
    assert not refused, f"{refused} benchmark jobs refused (see taxsms dead list)"
    return added


def job_lines(
    n: int, run: str, kind: str = "filing_reminder", text: str = TEXT, phone_base: int = 0, phones: int = 0,
    **fields: object,
) -> list[bytes]:  # fmt: skip
    """`n` jobs of BENCH_SYSTEM to recipients of its unit, one phone each (or cycling over `phones` phones);
    `fields`: more of each job's, e.g. a priority."""
    common = {"kind": kind, "text": text, "recipient_unit": BENCH_SYSTEM.unit, "principal": BENCH_SYSTEM.tag, **fields}
    numbers = (phone_base + (i % phones if phones else i) for i in range(n))
    return [msgspec.json.encode({"id": f"{run}-{i}", "to": f"139{to:08d}", **common}) for i, to in enumerate(numbers)]


def write_json(path: Path, payload: dict[str, Any]) -> None:
    meta = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode({"meta": meta, **payload})))
    print(f"\nwrote {path}")
