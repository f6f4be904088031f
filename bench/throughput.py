"""End-to-end throughput: enqueued job -> accepted by the SMSC -> receipt recorded, vs SMSC latency and window.

Each run uses three processes, as in production: a private redis-server, the SMSC simulator (`taxsms
simulator`) and one worker (`taxsms worker`, one bind). Jobs are enqueued first; the clock runs from the
worker's first claim (its process started and bound: interpreter start-up is not throughput) to the moment the
last receipt is recorded in Redis, so it includes filling and draining the pipeline. CPU µs per message is the
worker process's (and, separately, redis-server's) user+system time from its first claim to the last receipt
(start-up and imports excluded) divided by the jobs it sent. Over the same span the worker's /metrics says
where its send loop waited (taxsms_sender_wait_seconds_total): for a claimed job ("wait job": reading and
admission did not keep up) or for a slot ("wait slot": the SMSC's answers and the outcome writes behind them),
as shares of the run's time. Right after each taxsms run the same number of
messages goes through a minimal raw windowed client (`rawclient.py`: no Redis, receipts answered) with the
same window against the same simulator, so the share of the raw rate taxsms reaches is measured in the same
sitting. The same latencies are then run with a synchronous smpplib client that waits for each submit_sm_resp
before the next (stop-and-wait).

    python bench/throughput.py [--quick] [--latencies 0,20] [--windows 64] [--json bench/results/throughput.json]
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import psutil
import smpplib.client
import smpplib.consts
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from taxsms import runtime
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer, free_port

from common import RESULTS, enqueue, job_lines, start_worker, until_final, write_json
from rawclient import raw_run

LATENCIES_MS = (0, 5, 20, 50)
WINDOWS = (1, 16, 64, 256)
RUN_SECONDS = 3.0  # aim each run at about this long
MAX_JOBS = 30_000
RUN_NUMBERS = itertools.count(1)  # each run its own key prefix (its own jobs and counts) in the one redis-server


@dataclass
class Run:
    client: str
    latency_ms: float
    window: int
    jobs: int
    seconds: float
    msg_per_s: float
    bound_msg_per_s: float | None  # window / latency, the ceiling of one bind
    pct_of_bound: float | None
    cpu_us_per_msg: float | None
    redis_cpu_us_per_msg: float | None = None
    raw_msg_per_s: float | None = None  # the minimal raw client, same latency, window and jobs, same run
    pct_of_raw: float | None = None
    pct_waiting_for_job: float | None = None  # of the run's time, the worker's send loop had no claimed job
    pct_waiting_for_slot: float | None = None  # ... had a job but every slot was taken


def start_simulator(port: int, latency_ms: float) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taxsms",
            "simulator",
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--dlr-ms",
            "5",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with __import__("socket").create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("simulator did not start")


def jobs_for(latency_ms: float, window: int) -> int:
    rate = 8000 if latency_ms == 0 else min(8000, window / (latency_ms / 1000))
    return int(min(MAX_JOBS, max(50, rate * RUN_SECONDS)))


async def sender_waits(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The worker's taxsms_sender_wait_seconds_total by what it waited for, from its /metrics."""
    async with http.get(url) as response:
        text = await response.text()
    return {
        sample.labels["waiting_for"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "taxsms_sender_wait_seconds"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


async def taxsms_run(redis_url: str, redis_pid: int, sim_port: int, latency_ms: float, window: int) -> Run:
    n = jobs_for(latency_ms, window)
    prefix = f"bench{next(RUN_NUMBERS)}"  # as long as the default prefix (taxsms): the key bytes are production's
    redis = Redis.from_url(redis_url)
    keys = Keys(prefix, 1)
    await enqueue(redis, keys, job_lines(n, prefix))
    metrics = f"http://127.0.0.1:{(metrics_port := free_port())}/metrics"
    worker = start_worker(redis_url, prefix, sim_port, "--window", str(window), "--metrics-port", str(metrics_port))
    proc = psutil.Process(worker.pid)
    redis_proc = psutil.Process(redis_pid)
    try:
        async with aiohttp.ClientSession() as http:

            async def snapshot() -> tuple[float, float, dict[str, float]]:
                return cpu_seconds(proc), cpu_seconds(redis_proc), await sender_waits(http, metrics)

            seconds, first = await until_final(redis, keys, n, worker, snapshot)
            worker_cpu, redis_cpu, waited = first or (0.0, 0.0, {})
            cpu_at_end, redis_at_end, waited_at_end = await snapshot()
            cpu, redis_cpu = cpu_at_end - worker_cpu, redis_at_end - redis_cpu
            waited = {what: total - waited.get(what, 0.0) for what, total in waited_at_end.items()}
    finally:
        worker.terminate()
        worker.wait(30)
        await redis.aclose()
    bound = None if latency_ms == 0 else window / (latency_ms / 1000)
    rate = n / seconds
    return Run(
        "taxsms",
        latency_ms,
        window,
        n,
        seconds,
        rate,
        bound,
        None if bound is None else 100 * rate / bound,
        cpu / n * 1e6,
        redis_cpu / n * 1e6,
        pct_waiting_for_job=100 * waited["job"] / seconds,
        pct_waiting_for_slot=100 * waited["slot"] / seconds,
    )


def smpplib_run(sim_port: int, latency_ms: float) -> Run:
    """Stop-and-wait: smpplib's synchronous client, one submit_sm at a time, no Redis."""
    n = int(min(3000, max(40, RUN_SECONDS / max(latency_ms / 1000, 0.0005))))
    client = smpplib.client.Client("127.0.0.1", sim_port, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id="taxsms", password="x")
    answered = 0

    def on_resp(pdu: object) -> None:
        nonlocal answered
        answered += 1

    client.set_message_sent_handler(on_resp)
    client.set_message_received_handler(lambda pdu: None)
    text = "尊敬的纳税人：您本月增值税申报期限为15日，请及时办理申报。".encode("utf-16-be")
    started = time.perf_counter()
    for i in range(n):
        client.send_message(
            source_addr="12366",
            destination_addr=f"86139{i:08d}",
            short_message=text,
            data_coding=smpplib.consts.SMPP_ENCODING_ISO10646,
            registered_delivery=False,
        )
        while answered <= i:
            client.read_once()
    seconds = time.perf_counter() - started
    client.unbind()
    client.disconnect()
    bound = None if latency_ms == 0 else 1 / (latency_ms / 1000)
    return Run(
        "smpplib stop-and-wait",
        latency_ms,
        1,
        n,
        seconds,
        n / seconds,
        bound,
        None if bound is None else 100 * (n / seconds) / bound,
        None,
    )


def print_table(runs: list[Run]) -> None:
    print(
        f"\n{'client':<22}{'latency':>9}{'window':>8}{'jobs':>8}{'msg/s':>10}{'raw msg/s':>11}{'% raw':>7}"
        f"{'bound':>9}{'% bound':>9}{'worker µs':>11}{'redis µs':>10}{'wait job':>10}{'wait slot':>11}"
    )

    def fmt(value: float | None, spec: str, suffix: str = "") -> str:
        return "-" if value is None else f"{value:{spec}}{suffix}"

    for r in runs:
        print(
            f"{r.client:<22}{r.latency_ms:>7.0f}ms{r.window:>8}{r.jobs:>8}{r.msg_per_s:>10,.0f}"
            f"{fmt(r.raw_msg_per_s, ',.0f'):>11}{fmt(r.pct_of_raw, '.0f', '%'):>7}"
            f"{fmt(r.bound_msg_per_s, ',.0f'):>9}{fmt(r.pct_of_bound, '.0f', '%'):>9}"
            f"{fmt(r.cpu_us_per_msg, '.0f'):>11}{fmt(r.redis_cpu_us_per_msg, '.0f'):>10}"
            f"{fmt(r.pct_waiting_for_job, '.0f', '%'):>10}{fmt(r.pct_waiting_for_slot, '.0f', '%'):>11}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only latency 0 and 20 ms, windows 1 and 64")
    parser.add_argument("--latencies", help="comma-separated SMSC latencies in ms (default 0,5,20,50)")
    parser.add_argument("--windows", help="comma-separated windows (default 1,16,64,256)")
    parser.add_argument("--json", type=Path, default=RESULTS / "throughput.json")
    args = parser.parse_args()
    latencies = (0, 20) if args.quick else LATENCIES_MS
    windows = (1, 64) if args.quick else WINDOWS
    if args.latencies:
        latencies = tuple(int(v) for v in args.latencies.split(","))
    if args.windows:
        windows = tuple(int(v) for v in args.windows.split(","))
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        for latency in latencies:
            port = free_port()
            sim = start_simulator(port, latency)
            try:
                for window in windows:
                    assert server.process is not None
                    run = await taxsms_run(server.url, server.process.pid, port, latency, window)
                    raw = await raw_run(port, run.jobs, window)
                    run.raw_msg_per_s, run.pct_of_raw = raw.msg_per_s, 100 * run.msg_per_s / raw.msg_per_s
                    runs.append(run)
                    print(
                        f"taxsms  latency {latency:>3} ms  window {window:>3}: {run.msg_per_s:>8,.0f} msg/s"
                        f"  raw client {raw.msg_per_s:>8,.0f} ({run.pct_of_raw:.0f} %)"
                        f"  worker {run.cpu_us_per_msg:.0f} µs/msg, redis {run.redis_cpu_us_per_msg:.0f} µs/msg"
                        f"  waiting for a job {run.pct_waiting_for_job:.0f} %, a slot {run.pct_waiting_for_slot:.0f} %",
                        flush=True,
                    )
                base = smpplib_run(port, latency)
                runs.append(base)
                print(
                    f"smpplib latency {latency:>3} ms  stop-and-wait: {base.msg_per_s:>8,.0f} msg/s",
                    flush=True,
                )
            finally:
                sim.terminate()
                sim.wait(10)
    print_table(runs)
    write_json(args.json, {"runs": [asdict(r) for r in runs]})


if __name__ == "__main__":
    runtime.run(main())
