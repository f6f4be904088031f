"""Chaos: a campaign survives worker kills, SMSC drops, latency spikes, a Redis restart and a throttling storm.

Each scenario runs the same campaign (`--jobs` single-part `overdue_filing` jobs, a fresh key prefix, a fresh SMSC
simulator in this process) through `--workers` worker processes (`taxsms worker`, window 64, one bind,
claim_idle_s 2) and injects one kind of fault every `--interval` seconds until every job was accepted:

    kill9     kill -9 of one worker (round robin), a replacement started at once
    drop      the simulator aborts every SMPP connection (sim.drop_connections())
    latency   SMSC latency 5 ms -> 500 ms for `--duration` s, then back to 5 ms
    redis     redis-server stopped (AOF flushed) for `--outage` s, then started again
    throttle  SMSC limit lowered to 50 submit_sm/s for `--duration` s (ESME_RTHROTTLED beyond), then lifted
    replies   a campaign of `--reply-jobs` `reply` jobs (20,000) through two workers, one kill -9 2 s in and no
              replacement: the survivor must take over the dead one's share (each worker may hold only its
              buffer, replies included) within claim_idle_s and a few seconds

Per scenario:
  lost        jobs not in a final state, or whose message the SMSC never accepted (exact, per job)
  duplicates  messages the SMSC accepted twice (same destination and text)
  bound       the most duplicates the design allows: faults x jobs at risk per fault (see at_risk)
              (kill9: a window per bind of the killed worker; drop and redis: a window per bind of every
              worker; latency and throttle: none)
  most held   the most entries pending under one worker at any time (sampled every 20 ms), against its buffer
  final after seconds from the last fault until every job was final
  recovery    from the end of each fault until the SMSC's accepted rate, measured over 200 ms windows from
              the simulator's own timestamp of every accepted submit_sm, is back to >= 90 % of the rate in
              the second before the fault (median and worst over the faults; target <= 1 s after a drop)

    python bench/chaos.py [--jobs 100000] [--scenarios kill9,drop,latency,redis,throttle] [--workers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from taxsms import runtime
from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.queue.connect import RETRYABLE
from taxsms.queue.jobs import FINAL_STATES, Lane
from taxsms.queue.keys import CONSUMER_GROUP, Keys
from taxsms.queue.server import RedisServer
from taxsms.queue.store import JobStore
from taxsms.tasks import cancel_and_wait

from common import BENCH_ENV, RESULTS, enqueue, job_lines, write_json

SCENARIOS = ("kill9", "drop", "latency", "redis", "throttle", "replies")
BASE_LATENCY_MS = 5.0
SPIKE_LATENCY_MS = 500.0
STORM_TPS = 50.0
RATE_WINDOW_S = 0.2  # recovery: the accepted rate is measured over windows this long
RECOVERED = 0.9  # ... and must be back to this fraction of the rate in the second before the fault


@dataclass
class ChaosConfig:
    jobs: int = 100_000
    workers: int = 3
    window: int = 64
    binds: int = 1
    interval_s: float = 3.0  # between the starts of two faults
    duration_s: float = 2.0  # how long a latency spike or throttling storm lasts
    outage_s: float = 1.0  # how long Redis stays down
    warmup_s: float = 1.0  # full-rate sending before the first fault
    claim_idle_s: float = 2.0
    tps: float | None = None  # the workers' shared --tps (None: as fast as they go)
    latency_ms: float = BASE_LATENCY_MS  # the SMSC's latency outside a spike
    max_faults: int = 20
    timeout_s: float = 300.0  # give up waiting for the campaign to finish after this long
    log_dir: Path | None = None  # worker stderr goes here (default: discarded)
    kind: str = "overdue_filing"  # of every job of the campaign (a registered system's: no notices)

    @property
    def buffer(self) -> int:
        """The most entries one worker holds (the worker's default buffer: a batch or two windows, + two windows)."""
        in_flight = 2 * self.window * self.binds
        return max(256, in_flight) + in_flight


@dataclass
class Fault:
    started: float  # simulator clock (time.monotonic)
    ended: float
    duplicates_before: int = 0  # the simulator's duplicate count when the fault began
    duplicates: int = 0  # duplicates from this fault's start to the next one's (or the end)
    rate_before: float = 0.0  # accepted/s in the second before the fault
    recovery_s: float | None = None  # None: the campaign ended before the rate was measurable again


@dataclass
class Outcome:
    scenario: str
    jobs: int
    seconds: float
    accepted: int
    duplicates: int
    lost: int
    not_final: int
    never_accepted: int
    faults: int
    bound: int
    throttled: int
    connections_dropped: int
    workers_started: int
    recovery_median_s: float | None
    recovery_max_s: float | None
    recovery_unmeasured: int
    max_duplicates_per_fault: int
    most_held: int = 0  # the most entries pending under one worker at once
    buffer: int = 0
    final_after_fault_s: float | None = None  # from the end of the last fault until every job was final
    rate_series: list[int] = field(default_factory=list)  # accepted per RATE_WINDOW_S from the first accept
    first_accept: float = 0.0  # simulator clock
    fault_log: list[Fault] = field(default_factory=list)

    @property
    def bound_per_fault(self) -> int:
        return self.bound // self.faults if self.faults else 0

    @property
    def ok(self) -> bool:
        """Faults were injected, 0 lost, and no fault followed by more duplicates than its bound."""
        within = self.duplicates <= self.bound and self.max_duplicates_per_fault <= self.bound_per_fault
        return self.faults > 0 and self.lost == 0 and within


class Campaign:
    """One scenario's moving parts: the simulator, the worker processes, the Redis server."""

    def __init__(self, cfg: ChaosConfig, server: RedisServer, sim: SmscSimulator, prefix: str) -> None:
        self.cfg, self.server, self.sim, self.prefix = cfg, server, sim, prefix
        self.workers: list[subprocess.Popen[bytes]] = []
        self.started = 0
        self._logs: list[IO[bytes]] = []

    def spawn(self) -> subprocess.Popen[bytes]:
        """A `taxsms worker` process, as bench/common.py starts them, with its stderr kept apart."""
        cfg = self.cfg
        name = f"w{self.started}"
        self.started += 1
        command = [sys.executable, "-m", "taxsms", "worker", "--redis-url", self.server.url, "--prefix", self.prefix]
        command += ["--smsc", f"127.0.0.1:{self.sim.port}", "--system-id", "taxsms"]
        command += ["--window", str(cfg.window), "--binds", str(cfg.binds), "--consumer", name]
        if cfg.tps:
            command += ["--tps", str(cfg.tps)]
        env = {**os.environ, **BENCH_ENV, "TAXSMS_WORKER_CLAIM_IDLE_S": str(cfg.claim_idle_s)}
        env |= {"TAXSMS_WORKER_BLOCK_MS": "50", "TAXSMS_SMPP_PASSWORD": "x"}
        if cfg.log_dir is not None:
            cfg.log_dir.mkdir(parents=True, exist_ok=True)
            log: IO[bytes] | int = open(cfg.log_dir / f"{self.prefix}-{name}.log", "wb")  # noqa: SIM115
            self._logs.append(log)  # type: ignore[arg-type]
        else:
            log = subprocess.DEVNULL
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()


# -- the faults: each injects one fault and returns when it is over (the recovery clock starts then) ----------


async def kill_worker(c: Campaign) -> None:
    """kill -9 of the oldest live worker; a replacement is started at once."""
    victim = next(proc for proc in c.workers if proc.poll() is None)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    c.spawn()


async def kill_one_worker(c: Campaign) -> None:
    """kill -9 of one worker, not replaced: the survivors must take over its entries."""
    victim = next(proc for proc in c.workers if proc.poll() is None)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


async def drop_connections(c: Campaign) -> None:
    c.sim.drop_connections()


async def latency_spike(c: Campaign) -> None:
    c.sim.config.latency_ms = SPIKE_LATENCY_MS
    await asyncio.sleep(c.cfg.duration_s)
    c.sim.config.latency_ms = c.cfg.latency_ms


async def restart_redis(c: Campaign) -> None:
    await asyncio.to_thread(c.server.stop)  # graceful: AOF flushed
    await asyncio.sleep(c.cfg.outage_s)
    await asyncio.to_thread(c.server.start, 60.0)  # replaying the AOF takes seconds on a loaded machine


async def throttling_storm(c: Campaign) -> None:
    c.sim.config.tps = STORM_TPS
    await asyncio.sleep(c.cfg.duration_s)
    c.sim.config.tps = None


FAULTS: dict[str, Callable[[Campaign], Awaitable[None]]] = {
    "kill9": kill_worker,
    "drop": drop_connections,
    "latency": latency_spike,
    "redis": restart_redis,
    "throttle": throttling_storm,
    "replies": kill_one_worker,
}


def at_risk(scenario: str, cfg: ChaosConfig) -> int:
    """The most jobs one fault can make the SMSC see twice: those sent whose outcome the fault kept from Redis.

    kill9, replies: the killed worker's unrecorded jobs, at the SMSC or answered and not yet recorded: a window
    per bind (the sender's slots); drop and redis: every bind's window of unanswered submits, resent on reconnect;
    latency and throttle: none.
    """
    killed, every = cfg.binds, cfg.workers * cfg.binds
    per_bind = {"kill9": killed, "replies": killed, "drop": every, "redis": every}
    return per_bind.get(scenario, 0) * cfg.window


# -- measuring --------------------------------------------------------------------------------------------------


def recovery_time(stamps: list[float], fault: Fault) -> float | None:
    """Seconds from the end of the fault until a RATE_WINDOW_S window holds >= 90 % of the pre-fault rate.

    `stamps` are the simulator's clock at every accepted submit_sm, in order. None when the campaign ended
    (or was too slow before the fault) so that the rate cannot be judged.
    """
    before = bisect.bisect_left(stamps, fault.started) - bisect.bisect_left(stamps, fault.started - 1.0)
    if before == 0 or stamps[-1] - fault.started < 0:
        return None
    wanted = RECOVERED * before * RATE_WINDOW_S  # accepted per window at 90 % of the rate before
    t = fault.ended
    step = 0.005
    while t + RATE_WINDOW_S <= stamps[-1]:
        if bisect.bisect_left(stamps, t + RATE_WINDOW_S) - bisect.bisect_left(stamps, t) >= wanted:
            return max(0.0, t - fault.ended)
        t += step
    return None


async def job_states(store: JobStore, ids: list[str]) -> list[str | None]:
    states: list[str | None] = []
    for start in range(0, len(ids), 10_000):
        for attempt in range(5):  # a connection from before a Redis restart fails once
            try:
                states += await store.states(ids[start : start + 10_000])
                break
            except RETRYABLE:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.1)
    return states


async def most_held(redis: Redis, streams: list[str], most: list[int]) -> None:
    """Keep most[0] at the most entries pending under one consumer over `streams` (until cancelled)."""
    while True:
        held: dict[bytes, int] = {}
        for stream in streams:
            try:
                summary = await redis.xpending(stream, CONSUMER_GROUP)
            except (ResponseError, *RETRYABLE):  # no group yet, or Redis restarting
                continue
            for consumer in summary["consumers"]:
                held[consumer["name"]] = held.get(consumer["name"], 0) + int(consumer["pending"])
        most[0] = max([most[0], *held.values()])
        await asyncio.sleep(0.02)


async def final_count(store: JobStore) -> int:
    counts = await store.counts()
    return sum(counts[state] for state in FINAL_STATES)


async def run_scenario(scenario: str, server: RedisServer, cfg: ChaosConfig, *, quiet: bool = False) -> Outcome:
    """Run one campaign through `cfg.workers` workers while injecting `scenario`'s fault; measure the damage."""
    inject = FAULTS[scenario]
    if scenario == "replies":  # the reply-heavy campaign: two workers, and one of them killed
        cfg = replace(cfg, kind="reply", workers=2, max_faults=1)
    prefix = f"chaos-{scenario}-{time.time_ns()}"
    keys = Keys(prefix, 1)
    redis = Redis.from_url(server.url)
    store = JobStore(redis, keys)
    lines = job_lines(cfg.jobs, prefix, kind=cfg.kind)
    ids = [f"{prefix}-{i}" for i in range(cfg.jobs)]
    phones = {f"139{i:08d}": i for i in range(cfg.jobs)}
    await enqueue(redis, keys, lines)
    say = (lambda *_: None) if quiet else (lambda msg: print(f"  [{scenario}] {msg}", flush=True))
    config = SimulatorConfig(latency_ms=cfg.latency_ms, dlr_ms=50, keep_accepted=True)
    faults: list[Fault] = []
    async with SmscSimulator(config) as sim:
        campaign = Campaign(cfg, server, sim, prefix)
        for _ in range(cfg.workers):
            campaign.spawn()
        started = time.monotonic()
        deadline = started + cfg.timeout_s
        most = [0]
        sampler = asyncio.create_task(most_held(redis, [*(keys.lane(lane) for lane in Lane), keys.intake], most))
        try:
            while sim.stats.accepted == 0:  # the workers are up and sending
                await asyncio.sleep(0.01)
                if time.monotonic() > deadline:
                    raise RuntimeError("no message accepted: did the workers start?")
            await asyncio.sleep(cfg.warmup_s)
            while (
                sim.stats.accepted - sim.stats.duplicates < cfg.jobs
                and time.monotonic() < deadline
                and len(faults) < cfg.max_faults
            ):
                begin, dups = time.monotonic(), sim.stats.duplicates
                await inject(campaign)
                faults.append(Fault(begin, time.monotonic(), duplicates_before=dups))
                say(f"fault {len(faults)}: accepted {sim.stats.accepted:,}/{cfg.jobs:,}")
                while time.monotonic() < begin + cfg.interval_s:
                    if sim.stats.accepted - sim.stats.duplicates >= cfg.jobs:
                        break
                    await asyncio.sleep(0.01)
            while time.monotonic() < deadline:  # every job's outcome recorded (receipts included)
                try:
                    if await final_count(store) >= cfg.jobs:
                        break
                except RETRYABLE:
                    pass
                await asyncio.sleep(0.05)
            seconds = time.monotonic() - started
            final_after = time.monotonic() - faults[-1].ended if faults else None
        finally:
            await cancel_and_wait(sampler)  # a plain cancel() can be lost in a Redis call: see taxsms/tasks.py
            campaign.stop()
        stats = sim.stats
        stamps = [stamp for stamp, _, _ in sim.accepted_log]
        accepted_phones = {phone[-11:] for _, phone, _ in sim.accepted_log}  # 86139...: last 11 digits
    never_accepted = {i for phone, i in phones.items() if phone not in accepted_phones}
    states = await job_states(store, ids)
    not_final = {i for i, state in enumerate(states) if state not in FINAL_STATES}
    await redis.aclose()
    for n, fault in enumerate(faults):
        fault.recovery_s = recovery_time(stamps, fault)
        fault.rate_before = bisect.bisect_left(stamps, fault.started) - bisect.bisect_left(stamps, fault.started - 1)
        upto = faults[n + 1].duplicates_before if n + 1 < len(faults) else stats.duplicates
        fault.duplicates = upto - fault.duplicates_before
    series = [0] * (int((stamps[-1] - stamps[0]) / RATE_WINDOW_S) + 1) if stamps else []
    for stamp in stamps:
        series[int((stamp - stamps[0]) / RATE_WINDOW_S)] += 1
    measured = [f.recovery_s for f in faults if f.recovery_s is not None]
    return Outcome(
        scenario=scenario,
        jobs=cfg.jobs,
        seconds=round(seconds, 2),
        accepted=stats.accepted,
        duplicates=stats.duplicates,
        lost=len(never_accepted | not_final),
        not_final=len(not_final),
        never_accepted=len(never_accepted),
        faults=len(faults),
        bound=len(faults) * at_risk(scenario, cfg),
        throttled=stats.throttled,
        connections_dropped=stats.connections_dropped,
        workers_started=campaign.started,
        recovery_median_s=round(statistics.median(measured), 3) if measured else None,
        recovery_max_s=round(max(measured), 3) if measured else None,
        recovery_unmeasured=len(faults) - len(measured),
        max_duplicates_per_fault=max((f.duplicates for f in faults), default=0),
        most_held=most[0],
        buffer=cfg.buffer,
        final_after_fault_s=None if final_after is None else round(final_after, 2),
        rate_series=series,
        first_accept=stamps[0] if stamps else started,
        fault_log=faults,
    )


def print_table(outcomes: list[Outcome]) -> None:
    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    print(
        f"\n{'scenario':<10}{'jobs':>9}{'seconds':>9}{'faults':>8}{'lost':>6}{'duplicates':>12}{'bound':>7}"
        f"{'max/fault':>11}{'throttled':>11}{'recovery median':>17}{'max':>7}{'most held':>11}{'final after':>13}  ok"
    )
    for o in outcomes:
        per_fault = o.bound_per_fault
        print(
            f"{o.scenario:<10}{o.jobs:>9,}{o.seconds:>9.1f}{o.faults:>8}{o.lost:>6}{o.duplicates:>12}{o.bound:>7}"
            f"{f'{o.max_duplicates_per_fault}/{per_fault}':>11}{o.throttled:>11}"
            f"{secs(o.recovery_median_s):>16}s{secs(o.recovery_max_s):>6}s"
            f"{f'{o.most_held}/{o.buffer}':>11}{secs(o.final_after_fault_s):>12}s  {'yes' if o.ok else 'NO'}"
        )


def as_json(o: Outcome) -> dict[str, object]:
    data = asdict(o)
    data["fault_log"] = [
        {"at_s": round(f.started - o.first_accept, 3), "lasted_s": round(f.ended - f.started, 3),
         "rate_before": f.rate_before, "duplicates": f.duplicates,
         "recovery_s": None if f.recovery_s is None else round(f.recovery_s, 3)}
        for f in o.fault_log
    ]  # fmt: skip
    data["rate_window_s"] = RATE_WINDOW_S
    del data["first_accept"]
    data["ok"] = o.ok
    data["bound_per_fault"] = o.bound_per_fault
    return data


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs per scenario")
    parser.add_argument("--reply-jobs", type=int, default=20_000, help="jobs of the replies scenario")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, of " + ",".join(SCENARIOS))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between faults")
    parser.add_argument("--duration", type=float, default=2.0, help="length of a latency spike or throttling storm")
    parser.add_argument("--outage", type=float, default=1.0, help="seconds Redis stays down")
    parser.add_argument("--tps", type=float, help="the workers' shared --tps (default: no limit)")
    parser.add_argument("--claim-idle", type=float, default=2.0, help="the workers' claim_idle_s")
    parser.add_argument("--latency-ms", type=float, default=BASE_LATENCY_MS, help="SMSC latency outside spikes")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of sending before the first fault")
    parser.add_argument("--logs", type=Path, help="keep the workers' stderr in this directory")
    parser.add_argument("--json", type=Path, default=RESULTS / "chaos.json")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    cfg = ChaosConfig(
        jobs=args.jobs, workers=args.workers, window=args.window, interval_s=args.interval,
        duration_s=args.duration, outage_s=args.outage, tps=args.tps, log_dir=args.logs, claim_idle_s=args.claim_idle,
        latency_ms=args.latency_ms, warmup_s=args.warmup,
    )  # fmt: skip
    print(
        f"{args.jobs:,} notice jobs per scenario; {args.workers} workers, window {args.window}, "
        f"claim idle {args.claim_idle:g} s, a fault every {args.interval:g} s"
    )
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        for scenario in scenarios:
            print(f"scenario {scenario}", flush=True)
            run_cfg = replace(cfg, jobs=args.reply_jobs, warmup_s=2.0) if scenario == "replies" else cfg
            outcome = await run_scenario(scenario, server, run_cfg)
            outcomes.append(outcome)
            print(
                f"  [{scenario}] done in {outcome.seconds:.1f} s: lost {outcome.lost}, duplicates "
                f"{outcome.duplicates} (bound {outcome.bound}), recovery max {outcome.recovery_max_s} s",
                flush=True,
            )
            client = Redis.from_url(server.url)  # the next scenario starts from an empty Redis
            await client.flushall()
            await client.aclose()
    print_table(outcomes)
    drops = [o for o in outcomes if o.scenario == "drop"]
    print(
        "targets: 0 lost, duplicates after each fault <= the jobs it put at risk (see at_risk)"
        + (", recovery after an SMSC drop <= 1 s" if drops else "")
    )
    ok = all(o.ok for o in outcomes) and all((o.recovery_max_s or 0) <= 1.0 for o in drops)
    print("met" if ok else "NOT met")
    write_json(
        args.json,
        {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
            "targets": {"lost": 0, "duplicates": "<= bound", "drop_recovery_s": 1.0},
            "scenarios": [as_json(o) for o in outcomes],
        },
    )


if __name__ == "__main__":
    runtime.run(main())
