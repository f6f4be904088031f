"""The admission policy's cost per job, in-process (no Redis): what every path and the worker add to a send.

Three measurements over the example unit tree and the shipped forbidden list, each on `--jobs` jobs:
- `admit`: an upstream token's job with a text of its own (no two alike: the content-review cache never hits),
  admitted from scratch (keeper, scope, signature, review), as POST /v1/jobs and `taxsms enqueue` do;
- `readmit`: the worker admitting an admitted job again (the principal resolved from the job), same texts;
- `campaign`: the worker's re-admission of a campaign's jobs (one text: review is remembered per text).
For scale, `parse_job` (decoding and validating the job's JSON, which the worker does for every job anyway)
is timed on the same jobs. Prints µs per job (the best of five passes), and each as a multiple of parse_job
measured in the same run (a figure a loaded machine moves less), and writes bench/results/policy.json.
Target: under 5 µs per job.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import msgspec

from taxsms.governance.admission import _recheck
from taxsms.governance.operators import Operator, Role, Status
from taxsms.governance.policy import CampaignGrant, Principal, PrincipalKind, Registry, admit
from taxsms.governance.units import UnitTree
from taxsms.queue.jobs import Job, Kind, encode_job, parse_job
from taxsms.templates.review import ContentReview

from common import RESULTS, write_json

TARGET_US = 5.0
REPEATS = 5


def registry() -> Registry:
    kinds = frozenset({Kind.OVERDUE_FILING, Kind.FILING_REMINDER})
    token = Principal(PrincipalKind.TOKEN, "tok1", "county-e1", kinds, keeper="E1001")  # its keeper is checked
    admin = Operator("E1001", "赵一", "county-e1", frozenset({Role.ADMIN}), confirmed_by="P001")
    publisher = Operator("E2001", "王五", "city-east", frozenset({Role.PUBLISHER}), confirmed_by="P001")
    other = Operator("E1009", "钱九", "county-e1", frozenset({Role.ADMIN}), Status.SUSPENDED, suspended_reason="违规")
    return Registry(
        UnitTree.from_file(),
        ContentReview.from_file(),
        operators={op.id: op for op in (admin, publisher, other)},  # one suspended: keepers are looked up
        principals={token.tag: token},
        campaigns={"cmp-1": CampaignGrant("cmp-1", "city-east", Kind.NOTICE, "E2001")},
    )


def upstream_jobs(n: int) -> list[Job]:
    return [
        Job(
            id=f"j{i}",
            kind=Kind.FILING_REMINDER,
            to=f"139{i:08d}",
            recipient_unit="sub-e1-town",
            text=f"尊敬的纳税人{i}：您2026年11月的增值税申报期限为12月15日，请及时办理。",
        )
        for i in range(n)
    ]


def per_job_us(work, jobs: list, before=lambda: None) -> float:  # type: ignore[no-untyped-def, type-arg]
    """µs per job of `work` over `jobs`: the best of REPEATS passes (`before` runs ahead of each, e.g. to empty
    the review cache), as timeit advises: the other passes measure the machine's other load, not the code."""
    best = float("inf")
    for _ in range(REPEATS):
        before()
        started = time.perf_counter()
        for job in jobs:
            work(job)
        best = min(best, time.perf_counter() - started)
    return best / len(jobs) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=RESULTS / "policy.json")
    args = parser.parse_args()
    reg = registry()
    token = reg.principals["token:tok1"]
    reg.review.is_clean("warm up the folding table")
    jobs = upstream_jobs(args.jobs)
    payloads = [encode_job(job) for job in jobs]
    results = {"parse_job": per_job_us(parse_job, payloads)}
    fresh = reg._clean.clear  # every pass sees its texts for the first time, as the worker does
    results["admit"] = per_job_us(lambda job: admit(job, token, reg), jobs, fresh)
    admitted = [admit(job, token, reg) for job in jobs]
    results["readmit"] = per_job_us(lambda job: _recheck(job, False, reg), admitted, fresh)
    grant = reg.resolve("campaign:cmp-1")
    assert grant is not None
    draft = Job(
        "cmp-1-000001", Kind.NOTICE, "13900000000", "明天9点开会。", recipient_unit="county-e1", campaign="cmp-1"
    )
    signed = admit(draft, grant, reg)
    campaign = [msgspec.structs.replace(signed, id=f"cmp-1-{i:06d}") for i in range(args.jobs)]
    results["campaign"] = per_job_us(lambda job: _recheck(job, False, reg), campaign)
    print(f"admission policy, {args.jobs:,} jobs each (µs per job; target < {TARGET_US}; x parse_job, same run)")
    for name, value in results.items():
        print(f"  {name:<9} {value:6.2f} µs  {value / results['parse_job']:5.2f} x")
    write_json(args.json, {"jobs": args.jobs, "target_us": TARGET_US, "us_per_job": results})


if __name__ == "__main__":
    main()
