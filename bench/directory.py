"""The directory: import a million taxpayers from CSV, then plan the VAT reminders for them.

Against a private redis-server: writes a CSV of `--taxpayers` taxpayers (four units of the example tree,
one phone each and a second for every third, consent on for four in five, names of 6-12 characters), then:

    import    `taxsms directory import` (taxsms.directory.imports.import_file): seconds, taxpayers/s, and
              Redis bytes per taxpayer (INFO used_memory delta over the import: records, consent with its
              trail line, the phones' subscription summary)
    filings   `taxsms filings import` of filing events for 40 % of them
    plan      `taxsms reminders plan` (taxsms.directory.reminders.plan_reminders): read the directory, filed
              status and consent, render and validate the jobs, simulate them under the send windows at
              `--tps`; seconds, and the plan's own figures (jobs, link hours, feasible)

Targets: import of 1,000,000 rows in under 60 s.

    python bench/directory.py [--taxpayers 1000000] [--tps 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from datetime import datetime
from pathlib import Path

from redis.asyncio import Redis

from taxsms.directory.deadlines import Filing
from taxsms.directory.directory import Directory
from taxsms.directory.filings import FilingBook
from taxsms.directory.ids import uscc_check_character
from taxsms.directory.imports import import_file
from taxsms.directory.reminders import plan_reminders
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.governance.policy import UPSTREAM_KINDS, Principal, PrincipalKind
from taxsms.governance.units import UnitTree, save_units
from taxsms.holidays import PACKAGE
from taxsms.queue.connect import connect, keys_for
from taxsms.queue.jobs import CHINA
from taxsms.queue.server import RedisServer
from taxsms.templates.catalog import TemplateCatalog

from common import RESULTS, write_json

UNITS = ("county-e1", "county-e2", "county-w1", "sub-e1-town")
WORDS = "华达兴盛泰和信德源丰利通宏恒昌瑞康美嘉"
SUFFIXES = ("有限公司", "商贸有限公司", "科技有限公司", "个体工商户", "建材经营部")
TARGET_S = 60.0
START = "2026-12-01 09:00"  # a Tuesday, two weeks before the VAT:2026-11 deadline of 2026-12-15


def taxpayer_id(n: int) -> str:
    first = f"91350100{n:09d}"
    return first + uscc_check_character(first)


def write_csv(path: Path, n: int) -> None:
    rng = random.Random(12366)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("taxpayer_id,name,unit,phones\n")
        for i in range(n):
            name = "".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) + rng.choice(SUFFIXES)
            phones = f"13{i % 10}{i:08d}:legal:{int(i % 5 != 0)}"
            if i % 3 == 0:
                phones += f";159{i:08d}:finance"
            fh.write(f"{taxpayer_id(i)},{name},{UNITS[i % 4]},{phones}\n")


def write_filings(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("taxpayer_id,tax,period,filed_at\n")
        for i in range(0, n, 5):
            fh.writelines(f"{taxpayer_id(i + k)},VAT,2026-11,2026-12-0{1 + k}T10:00:00\n" for k in (1, 2) if i + k < n)


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measure(n: int, tps: float) -> dict[str, object]:
    tree = UnitTree.from_file()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        csv_path, filings_path = Path(tmp) / "taxpayers.csv", Path(tmp) / "filings.csv"
        write_csv(csv_path, n)
        write_filings(filings_path, n)
        redis = connect(server.url)  # as `taxsms directory import` connects (hiredis command packing)
        keys = keys_for(redis)
        await save_units(redis, keys, tree)
        directory = Directory(redis, keys)
        before, cpu_before, redis_before = await used_memory(redis), time.process_time(), await redis_cpu(redis)
        started = time.perf_counter()
        report = await import_file(directory, tree, csv_path, operator="bench")
        import_s = time.perf_counter() - started
        after = await used_memory(redis)
        import_cpu, import_redis_cpu = time.process_time() - cpu_before, await redis_cpu(redis) - redis_before
        assert report.failed == 0 and report.stored == n, (report.failed, report.errors[:3])

        started = time.perf_counter()
        filed, _ = await FilingBook(redis, keys, directory).import_csv(filings_path)
        filings_s = time.perf_counter() - started

        start = datetime.fromisoformat(START).replace(tzinfo=CHINA).timestamp()
        started, cpu_before, redis_before = time.perf_counter(), time.process_time(), await redis_cpu(redis)
        province = Principal(PrincipalKind.SYSTEM, "bench", tree.root, UPSTREAM_KINDS)  # sends them (planned only)
        plan = await plan_reminders(directory, tree, TemplateCatalog.from_dir(), Filing("VAT", "2026-11"),
                                    sender=province, days_before=3, tps=tps, windows=WindowPolicy.build(days_off=True),
                                    calendar=PACKAGE, clock=lambda: start)  # fmt: skip
        plan_s = time.perf_counter() - started
        plan_cpu, plan_redis_cpu = time.process_time() - cpu_before, await redis_cpu(redis) - redis_before
        await redis.aclose()
    assert plan.timeline is not None
    return {
        "taxpayers": n,
        "import_seconds": round(import_s, 1),
        "taxpayers_per_s": round(n / import_s),
        "import_client_cpu_s": round(import_cpu, 1),
        "import_redis_cpu_s": round(import_redis_cpu, 1),
        "bytes_per_taxpayer": round((after - before) / n, 1),
        "filings": filed.stored,
        "filings_seconds": round(filings_s, 1),
        "plan_seconds": round(plan_s, 1),
        "plan_client_cpu_s": round(plan_cpu, 1),
        "plan_redis_cpu_s": round(plan_redis_cpu, 1),
        "reminders": len(plan.jobs),
        "filed": plan.filed,
        "without_consent": plan.without_consent,
        "tps": tps,
        "link_hours": round(plan.needed_hours, 2),
        "window_hours": round(plan.window_hours, 1),
        "feasible": plan.feasible,
        "last_send": datetime.fromtimestamp(plan.timeline.last_send, CHINA).strftime("%Y-%m-%d %H:%M"),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taxpayers", type=int, default=1_000_000)
    parser.add_argument("--tps", type=float, default=500.0, help="segments/s of the simulated link")
    parser.add_argument("--json", type=Path, default=RESULTS / "directory.json")
    args = parser.parse_args()
    print(f"importing {args.taxpayers:,} taxpayers, then planning VAT:2026-11 reminders ...", flush=True)
    r = await measure(args.taxpayers, args.tps)
    print(f"import   {r['taxpayers']:,} taxpayers in {r['import_seconds']} s ({r['taxpayers_per_s']:,}/s; CPU: client "
          f"{r['import_client_cpu_s']} s, Redis {r['import_redis_cpu_s']} s), {r['bytes_per_taxpayer']} Redis bytes "
          "per taxpayer")  # fmt: skip
    print(f"filings  {r['filings']:,} in {r['filings_seconds']} s")
    print(f"plan     {r['reminders']:,} reminders ({r['filed']:,} filed, {r['without_consent']:,} without consent) "
          f"in {r['plan_seconds']} s (CPU: client {r['plan_client_cpu_s']} s, Redis {r['plan_redis_cpu_s']} s); "
          f"link busy {r['link_hours']} h at {r['tps']:g} segments/s of "
          f"{r['window_hours']} h of window; last out {r['last_send']}; feasible: {r['feasible']}")  # fmt: skip
    scaled = float(r["import_seconds"]) * 1_000_000 / args.taxpayers  # type: ignore[arg-type]
    print(f"target: 1,000,000 imported in < {TARGET_S:g} s (here {scaled:.1f} s per million): "
          f"{'met' if scaled < TARGET_S else 'NOT met'}")  # fmt: skip
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} CPUs")
    r["load_average"] = round(load, 1)
    write_json(args.json, {"targets": {"import_seconds_per_million": TARGET_S}, "directory": r})


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
