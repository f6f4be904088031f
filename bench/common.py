"""What the benchmark scripts share: worker processes, job lines, JSON results."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

RESULTS = Path(__file__).parent / "results"
TEXT = "【某市税务局】尊敬的纳税人：您本月增值税申报期限为15日，请及时办理申报。"

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


def job_lines(n: int, run: str, kind: str = "filing_reminder", text: str = TEXT, phone_base: int = 0) -> list[bytes]:
    return [
        msgspec.json.encode({"id": f"{run}-{i}", "kind": kind, "to": f"139{phone_base + i:08d}", "text": text})
        for i in range(n)
    ]


def write_json(path: Path, payload: dict[str, Any]) -> None:
    meta = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode({"meta": meta, **payload})))
    print(f"\nwrote {path}")
