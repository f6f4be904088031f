"""Run every benchmark, keep their JSON, draw the plots and write a Markdown summary, all in one dated folder.

Each script runs as its own subprocess (its output goes to `<name>.log` next to its JSON) under a progress
bar; a script that fails is reported and the others still run. Results go to `bench/results/<YYYY-MM-DD>/`:
the JSON files, PNG plots (throughput vs SMSC latency and window with the smpplib stop-and-wait baseline
measured in the same run, rate-limit accuracy per second, reply latency under load, worker CPU µs per
message, chaos) and `summary.md`.

    python bench/report.py [--quick] [--chaos-jobs 20000] [--only throughput,chaos] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from common import RESULTS

BENCH = Path(__file__).parent
#: a small campaign paced by the SMSC (3 workers x window 16 / 30 ms = 1,600 msg/s), long enough for a few faults
QUICK_CHAOS = ["--window", "16", "--latency-ms", "30", "--interval", "1.5", "--duration", "0.4", "--outage", "0.4"]
QUICK_CHAOS += ["--warmup", "0.3"]


@dataclass
class Script:
    name: str  # also the JSON's stem
    path: Path
    args: list[str]

    @property
    def exists(self) -> bool:
        return self.path.exists()


def scripts(quick: bool, chaos_jobs: int) -> list[Script]:
    return [
        Script("throughput", BENCH / "throughput.py", ["--quick"] if quick else []),
        Script("ratelimit", BENCH / "ratelimit.py", ["--seconds", "5" if quick else "10"]),
        Script("replies_under_load", BENCH / "replies_under_load.py", ["--mo", "100" if quick else "300"]),
        Script(
            "api_intake",
            BENCH / "api_intake.py",
            ["--requests", "10", "--batch", "5000"] if quick else [],
        ),
        Script("intake", BENCH / "intake.py", ["--jobs", "100000"] if quick else []),
        Script("scaleout", BENCH / "scaleout.py", ["--jobs", "12000"] if quick else []),
        Script("chaos", BENCH / "chaos.py", ["--jobs", str(chaos_jobs), *(QUICK_CHAOS if quick else [])]),
    ]


def run_all(todo: list[Script], out: Path) -> dict[str, str]:
    """Run the scripts one after the other under progress bars; return name -> 'ok' or what went wrong."""
    status: dict[str, str] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        overall = progress.add_task(f"{len(todo)} benchmarks", total=len(todo))
        for script in todo:
            task = progress.add_task(f"{script.name}: starting", total=None)
            json_path = out / f"{script.name}.json"
            log_path = out / f"{script.name}.log"
            command = [sys.executable, "-u", str(script.path), *script.args, "--json", str(json_path)]
            started = time.monotonic()
            with open(log_path, "w") as log:
                proc = subprocess.Popen(
                    command, cwd=BENCH.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    text = line.strip()
                    if text:
                        progress.update(task, description=f"{script.name}: {text[:70]}")
                code = proc.wait()
            elapsed = time.monotonic() - started
            if code == 0 and json_path.exists():
                status[script.name] = "ok"
            else:
                status[script.name] = f"exit code {code}, see {log_path.name}"
            progress.update(task, description=f"{script.name}: {status[script.name]} ({elapsed:.0f} s)", total=1)
            progress.update(task, completed=1)
            progress.advance(overall)
    return status


def load(out: Path, name: str) -> dict[str, Any] | None:
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# -- plots --------------------------------------------------------------------------------------------------------


def save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def plot_throughput(data: dict[str, Any], out: Path) -> str:
    runs = data["runs"]
    fig, ax = plt.subplots(figsize=(8, 5))
    by_window: dict[int, list[tuple[float, float]]] = defaultdict(list)
    baseline: list[tuple[float, float]] = []
    for r in runs:
        point = (r["latency_ms"], r["msg_per_s"])
        (baseline if r["client"] != "taxsms" else by_window[r["window"]]).append(point)
    for window, points in sorted(by_window.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=f"taxsms, window {window}")
    raw: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for r in runs:
        if r.get("raw_msg_per_s"):
            raw[r["window"]].append((r["latency_ms"], r["raw_msg_per_s"]))
    for window, points in sorted(raw.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker=".", linestyle=":", alpha=0.6, label=f"raw client, window {window}")
    if baseline:
        xs, ys = zip(*sorted(baseline), strict=True)
        ax.plot(xs, ys, marker="s", linestyle="--", color="black", label="smpplib stop-and-wait")
    ax.set_yscale("log")
    ax.set_xlabel("SMSC latency (ms)")
    ax.set_ylabel("messages per second (log scale)")
    ax.set_title("End-to-end throughput, one bind")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save(fig, out / "throughput.png")


def plot_cpu(data: dict[str, Any], out: Path) -> str:
    runs = [r for r in data["runs"] if r.get("cpu_us_per_msg") is not None]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = [f"{r['latency_ms']:g} ms / w{r['window']}" for r in runs]
    ax.bar(labels, [r["cpu_us_per_msg"] for r in runs], color="tab:orange")
    ax.set_yscale("log")
    ax.set_ylabel("worker CPU µs per message (log scale)")
    ax.set_xlabel("SMSC latency / window")
    ax.set_title("Worker CPU per message (user + system)")
    ax.tick_params(axis="x", rotation=45)
    ax.grid(True, axis="y", alpha=0.3)
    return save(fig, out / "cpu_per_message.png")


def plot_ratelimit(data: dict[str, Any], out: Path) -> str:
    runs = data["runs"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    labels = [f"T={r['tps']:g}\n{r['workers']} w" for r in runs]
    ax.bar(range(len(runs)), [r["max_1s"] / r["tps"] for r in runs], color="tab:blue", label="most in a 1-s window / T")
    ax.axhline(1.01, color="red", linestyle=":", label="T + 1 %")
    ax.set_xticks(range(len(runs)), labels)
    ax.set_ylabel("segments in the fullest sliding 1-s window, / T")
    ax.set_title("Shared rate limit at the SMSC" + (" (one worker's CPU loaded)" if data.get("busy") else ""))
    ax.legend(loc="lower right")
    return save(fig, out / "ratelimit.png")


def plot_replies(data: dict[str, Any], out: Path) -> str:
    latencies = data.get("latencies_ms") or []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(latencies, bins=40, color="tab:green")
    for key, style in (("p50_ms", "--"), ("p99_ms", ":")):
        if key in data:
            ax.axvline(data[key], color="black", linestyle=style, label=f"{key[:3]} {data[key]} ms")
    ax.axvline(50, color="red", label="target p99 50 ms")
    ax.set_xlabel("MO received → reply accepted by the SMSC (ms)")
    ax.set_ylabel("replies")
    ax.set_title("Auto-reply latency while a campaign runs at full rate")
    ax.legend()
    return save(fig, out / "reply_latency.png")


def plot_chaos(data: dict[str, Any], out: Path) -> str:
    scenarios = data["scenarios"]
    fig, axes = plt.subplots(len(scenarios), 1, figsize=(9, 2.2 * len(scenarios)), sharex=True, squeeze=False)
    for ax, s in zip(axes[:, 0], scenarios, strict=True):
        step = s.get("rate_window_s", 0.2)
        series = s.get("rate_series", [])
        ax.plot([i * step for i in range(len(series))], [v / step for v in series], color="tab:blue")
        for fault in s["fault_log"]:
            ax.axvspan(fault["at_s"], fault["at_s"] + max(fault["lasted_s"], 0.05), color="red", alpha=0.25)
        ax.set_ylabel("msg/s")
        verdict = "ok" if s["ok"] else "NOT ok"
        ax.set_title(
            f"{s['scenario']}: {s['faults']} faults, lost {s['lost']}, duplicates {s['duplicates']} "
            f"(bound {s['bound']}), {verdict}",
            fontsize=9,
        )
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("seconds since the first accepted message (red: fault)")
    fig.suptitle("Chaos: SMSC accepted rate per 200 ms under each fault")
    return save(fig, out / "chaos.png")


# -- summary ------------------------------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    """A Markdown table: the header, its rule, one line per row."""
    lines = ["| " + " | ".join(str(cell) for cell in line) + " |" for line in (header, *rows)]
    return [lines[0], "|" + "---|" * len(header), *lines[1:]]


def throughput_md(data: dict[str, Any]) -> list[str]:
    runs = data["runs"]
    windows = sorted({r["window"] for r in runs if r["client"] == "taxsms"})
    latencies = sorted({r["latency_ms"] for r in runs})
    cell = {(r["latency_ms"], r["window"]): r for r in runs if r["client"] == "taxsms"}
    base = {r["latency_ms"]: r for r in runs if r["client"] != "taxsms"}
    rows: list[list[object]] = []
    for lat in latencies:
        row: list[object] = [f"{lat:g} ms"]
        best = 0.0
        for w in windows:
            r = cell.get((lat, w))
            if r is None:
                row.append("-")
                continue
            best = max(best, r["msg_per_s"])
            pct = f" ({r['pct_of_bound']:.0f}%)" if r.get("pct_of_bound") else ""
            row.append(f"{r['msg_per_s']:,.0f}{pct}")
        b = base.get(lat)
        row.append(fmt(b["msg_per_s"]) if b else "-")
        row.append(f"{best / b['msg_per_s']:.1f}×" if b and b["msg_per_s"] else "-")
        rows.append(row)
    header = ["SMSC latency", *(f"window {w}" for w in windows), "smpplib stop-and-wait", "best ÷ smpplib"]
    lines = ["## Throughput (msg/s, end to end, one bind)", "", *table(header, rows)]
    side = [
        [
            f"{r['latency_ms']:g} ms",
            r["window"],
            fmt(r["msg_per_s"]),
            fmt(r["raw_msg_per_s"]),
            f"{r['pct_of_raw']:.0f} %",
            f"{r['cpu_us_per_msg']:.0f}",
            f"{r['redis_cpu_us_per_msg']:.0f}",
        ]
        for r in runs
        if r["client"] == "taxsms" and r.get("raw_msg_per_s")
    ]
    if side:
        header = ["SMSC latency", "window", "taxsms msg/s", "raw client msg/s", "share", "worker µs/msg"]
        header.append("Redis µs/msg")
        lines += ["", "Against the minimal raw windowed client (bench/rawclient.py) in the same run:", ""]
        lines += table(header, side)
    cpu = [r["cpu_us_per_msg"] for r in runs if r.get("cpu_us_per_msg") is not None and r["window"] >= 16]
    if cpu:
        lines += ["", f"Worker CPU at window ≥ 16: {min(cpu):.0f}–{max(cpu):.0f} µs per message."]
    lines += ["", "(%) = share of the bound window ÷ latency.", "", "![throughput](throughput.png)", ""]
    lines += ["![CPU per message](cpu_per_message.png)", ""]
    return lines


def ratelimit_md(d: dict[str, Any]) -> list[str]:
    rows = [
        [f"{r['tps']:,.0f}", r["workers"], f"{r['segments']:,}", r["max_1s"], r["bound"], "met" if r["ok"] else "NO"]
        for r in d["runs"]
    ]
    return [
        "## Shared rate limit (sliding 1-s windows at the SMSC)",
        "",
        *table(["T", "workers", "segments", "most in a 1-s window", "T + 1 %", "target"], rows),
        "",
        "![rate limit](ratelimit.png)",
        "",
    ]


def replies_md(d: dict[str, Any]) -> list[str]:
    keys = [k for k in ("answered", "p50_ms", "p90_ms", "p99_ms", "max_ms") if k in d]
    return [
        "## Reply latency under load",
        "",
        *table(keys, [[d[k] for k in keys]]),
        "",
        "![reply latency](reply_latency.png)",
        "",
    ]


def intake_md(d: dict[str, Any]) -> list[str]:
    lines = [
        "## Intake into Redis",
        "",
        f"Targets (template jobs): 1,000,000 in < {d['targets']['seconds_per_million']:g} s, "
        f"≤ {d['targets']['bytes_per_job']} Redis bytes per queued job.",
        "",
    ]
    rows: list[list[object]] = [
        [run, f"{r['jobs']:,}", f"{r['seconds']:.1f}", f"{r['jobs_per_s']:,}", f"{r['bytes_per_job']:.0f}",
         f"{r['line_bytes']:.0f}"]
        for run in ("template", "text") if (r := d.get(run))
    ]  # fmt: skip
    header = ["jobs", "count", "seconds", "jobs/s", "Redis bytes/job", "JSON bytes/job"]
    return [*lines, *table(header, rows), ""]


def api_intake_md(d: dict[str, Any]) -> list[str]:
    keys = [k for k in ("jobs", "batch", "concurrency", "seconds", "jobs_per_s", "p50_ms", "max_ms") if k in d]
    return [
        "## HTTP intake",
        "",
        *table(keys, [[f"{d[k]:,}" if isinstance(d[k], int) else d[k] for k in keys]]),
        "",
    ]


def scaleout_md(d: dict[str, Any]) -> list[str]:
    rows: list[list[object]] = [
        [r["processes"], fmt(r["msg_per_s"]), fmt(r.get("raw_msg_per_s")), f"{fmt(r.get('pct_of_raw'))} %",
         fmt(r["workers_cpu_pct"]), fmt(r["redis_cpu_pct"]), fmt(r["simulator_cpu_pct"]),
         fmt(r.get("machine_cpu_pct")), fmt(r.get("pct_waiting_for_job")), fmt(r.get("pct_waiting_for_slot")),
         r.get("limit", "")]
        for r in d["runs"]
    ]  # fmt: skip
    header = ["--processes", "msg/s", "raw clients msg/s", "share", "workers % core", "redis % core",
              "simulator % core", "machine %", "wait job %", "wait slot %", "limit"]  # fmt: skip
    return ["## Scale-out on one host (0 ms, window 64 per process)", "", *table(header, rows), ""]


def chaos_md(d: dict[str, Any]) -> list[str]:
    lines = [
        "## Chaos",
        "",
        f"{d['config']['jobs']:,} jobs per scenario, {d['config']['workers']} workers, window "
        f"{d['config']['window']}, claim idle {d['config']['claim_idle_s']:g} s, a fault every "
        f"{d['config']['interval_s']:g} s. Targets: 0 lost, duplicates ≤ the jobs each fault put at risk, "
        "recovery after an SMSC drop ≤ 1 s.",
        "",
    ]
    rows: list[list[object]] = []
    for s in d["scenarios"]:
        rec = [fmt(s[k], ".2f") + (" s" if s[k] is not None else "") for k in ("recovery_median_s", "recovery_max_s")]
        rows.append([
            s["scenario"], s["faults"], s["lost"], s["duplicates"], s["bound"],
            f"{s['max_duplicates_per_fault']} / {s['bound'] // max(s['faults'], 1)}", *rec,
            ("yes" if s["ok"] else "**no**") if s["faults"] else "no fault injected",
        ])  # fmt: skip
    header = ["scenario", "faults", "lost", "duplicates", "bound", "max per fault / bound", "recovery median",
              "recovery max", "ok"]  # fmt: skip
    return [*lines, *table(header, rows), "", "![chaos](chaos.png)", ""]


SECTIONS: dict[str, tuple[Callable[[dict[str, Any], Path], str] | None, Callable[[dict[str, Any]], list[str]]]] = {
    "throughput": (plot_throughput, throughput_md),
    "ratelimit": (plot_ratelimit, ratelimit_md),
    "replies_under_load": (plot_replies, replies_md),
    "api_intake": (None, api_intake_md),
    "intake": (None, intake_md),
    "scaleout": (None, scaleout_md),
    "chaos": (plot_chaos, chaos_md),
}


def write_report(out: Path, status: dict[str, str], quick: bool) -> Path:
    lines = [f"# Benchmarks {out.name}", ""]
    first = next((d for name in SECTIONS if (d := load(out, name))), None)
    if first is not None:
        meta = first["meta"]
        lines += [f"Python {meta['python']}, {meta['cpus']} CPUs{', --quick' if quick else ''}.", ""]
    if status:
        lines += [*table(["script", "result"], [[n, s] for n, s in status.items()]), ""]
    for name, (plot, section) in SECTIONS.items():
        data = load(out, name)
        if data is None:
            continue
        if plot is not None:
            plot(data, out)
            if name == "throughput":
                plot_cpu(data, out)
        lines += section(data)
    path = out / "summary.md"
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs: throughput --quick, 8 s of rate limit")
    parser.add_argument("--chaos-jobs", type=int, help="jobs per chaos scenario (default 20,000; 4,000 with --quick)")
    parser.add_argument("--only", help="comma-separated script names to run (default: all that exist)")
    parser.add_argument("--out", type=Path, help="default bench/results/<today>")
    parser.add_argument("--no-run", action="store_true", help="only redraw the plots and summary from the JSON")
    args = parser.parse_args()
    out = args.out or RESULTS / date.today().isoformat()
    out.mkdir(parents=True, exist_ok=True)
    chaos_jobs = args.chaos_jobs or (4_000 if args.quick else 20_000)
    todo = [s for s in scripts(args.quick, chaos_jobs) if s.exists]
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        todo = [s for s in todo if s.name in wanted]
    status = {} if args.no_run else run_all(todo, out)
    summary = write_report(out, status, args.quick)
    print(f"wrote {summary} and the plots next to it")
    if any(s != "ok" for s in status.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
