"""Intake: enqueue a million filing reminders through `taxsms.queue.intake.enqueue_lines`, as `taxsms enqueue` does.

Two runs against a private redis-server (a fresh one each, so memory is not shared between them):

    template  template id plus a few variables (taxpayer name, tax period, tax type, deadline): what the filing
              system pushes the night before a deadline
    text      the same jobs carrying a full 100-character Chinese text instead

Per run: jobs/s end to end (JSON lines in, validated, deduped, in their lane's stream), and Redis bytes per
queued job: the INFO memory `used_memory` delta over the run, divided by the jobs. Targets for the template
run: under 30 s for 1,000,000 jobs, at most 250 bytes per job.

    python bench/intake.py [--jobs 1000000] [--runs template,text]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import msgspec

from taxsms import runtime
from taxsms.queue.connect import connect, keys_for
from taxsms.queue.server import RedisServer

from common import BENCH_SYSTEM, RESULTS, enqueue, write_json

#: 100 characters: the signature, a reminder and the 12366 hotline, padded to length with the usual courtesy.
TEXT_100 = (
    "【某市税务局】尊敬的纳税人：您2026年11月的增值税申报期限为12月15日，请及时登录国家税务总局电子税务局办理申报。"
    "如已申报请忽略。咨询请拨打12366。感谢您对税收工作的支持！"
)
NAMES = ("张三", "李四", "王五", "赵六", "某某商贸有限公司", "某某科技有限公司")
TAXES = ("增值税", "企业所得税", "个人所得税", "印花税")
TARGET_S, TARGET_BYTES = 30.0, 250


def jobs(n: int, run: str) -> list[bytes]:
    """`n` JSON lines: template jobs, or the same jobs with TEXT_100 as their text."""
    lines = []
    for i in range(n):
        job: dict[str, object] = {"id": f"2026-11-rem-{i:07d}", "kind": "filing_reminder", "to": f"139{i:08d}"}
        if run == "text":
            job["text"] = TEXT_100
        else:
            job["template"] = "filing_reminder"
            job["vars"] = {"name": NAMES[i % 6], "period": "2026年11月", "tax": TAXES[i % 4], "deadline": "12月15日"}
        job["recipient_unit"], job["principal"] = BENCH_SYSTEM.unit, BENCH_SYSTEM.tag
        lines.append(msgspec.json.encode(job))
    return lines


async def measure(run: str, n: int) -> dict[str, float]:
    lines = jobs(n, run)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        redis = connect(server.url)  # as `taxsms enqueue` connects (hiredis packing)
        before = int((await redis.info("memory"))["used_memory"])
        started = time.perf_counter()
        added = await enqueue(redis, keys_for(redis), lines)
        seconds = time.perf_counter() - started
        after = int((await redis.info("memory"))["used_memory"])
        await redis.aclose()
    assert added == n, added
    return {
        "jobs": n,
        "seconds": round(seconds, 2),
        "jobs_per_s": round(n / seconds),
        "bytes_per_job": round((after - before) / n, 1),
        "line_bytes": round(sum(map(len, lines)) / n, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", default="template,text", help="comma-separated: template, text")
    parser.add_argument("--json", type=Path, default=RESULTS / "intake.json")
    args = parser.parse_args()
    results = {}
    for run in filter(None, args.runs.split(",")):
        print(f"enqueueing {args.jobs:,} {run} jobs ...", flush=True)
        results[run] = await measure(run, args.jobs)
    print(f"\n{'jobs':<10}{'count':>11}{'seconds':>9}{'jobs/s':>10}{'bytes/job':>11}{'JSON bytes':>12}")
    for run, r in results.items():
        print(
            f"{run:<10}{r['jobs']:>11,}{r['seconds']:>9.1f}{r['jobs_per_s']:>10,.0f}{r['bytes_per_job']:>11.0f}"
            f"{r['line_bytes']:>12.0f}"
        )
    template = results.get("template")
    if template:
        scaled = template["seconds"] * 1_000_000 / template["jobs"]
        met = scaled < TARGET_S and template["bytes_per_job"] <= TARGET_BYTES
        print(
            f"target (template jobs): 1,000,000 in < {TARGET_S:g} s (here {scaled:.1f} s per million), "
            f"<= {TARGET_BYTES} bytes per job: {'met' if met else 'NOT met'}"
        )
    write_json(args.json, {"targets": {"seconds_per_million": TARGET_S, "bytes_per_job": TARGET_BYTES}, **results})


if __name__ == "__main__":
    runtime.run(main())
