"""Chaos, bounded: each of bench/chaos.py's faults, injected into a small campaign, loses nothing.

Three worker processes (window 16) send 3,000 jobs to an SMSC answering in 30 ms, ~1,600 msg/s, so each
campaign lasts about 2 s and sees two or three faults; the faults and the measuring are bench/chaos.py's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from bench_support import bench_module

from taxsms.queue.server import RedisServer

chaos = bench_module("chaos")

JOBS = 3000


@pytest.fixture(scope="module")
def chaos_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this module's own: the redis scenario stops and starts it."""
    server = RedisServer(tmp_path_factory.mktemp("chaos-redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def chaos_redis_empty(chaos_redis: RedisServer) -> RedisServer:
    """The module's redis-server emptied, AOF rewritten: a restart replays this test's data, not every earlier one's
    (40 MB of AOF took 12.8 s to load on a loaded machine)."""
    client = redis.Redis.from_url(chaos_redis.url)
    try:
        client.flushall()
        client.bgrewriteaof()
    finally:
        client.close()
    return chaos_redis


def small(tmp_path: Path, **overrides: object) -> object:
    """A small campaign; it ends once every job is final, timeout_s is how long a failing one may take (loaded CI)."""
    settings = dict(
        jobs=JOBS, workers=3, window=16, latency_ms=30, interval_s=0.7, duration_s=0.3, outage_s=0.4,
        warmup_s=0.3, max_faults=3, timeout_s=60, log_dir=tmp_path,
    )  # fmt: skip
    return chaos.ChaosConfig(**{**settings, **overrides})


@pytest.mark.parametrize("scenario", chaos.SCENARIOS)
async def test_a_campaign_survives(scenario: str, chaos_redis_empty: RedisServer, tmp_path: Path) -> None:
    outcome = await chaos.run_scenario(scenario, chaos_redis_empty, small(tmp_path), quiet=True)
    print(
        f"\n{scenario}: {outcome.faults} faults, lost {outcome.lost}, duplicates {outcome.duplicates} "
        f"(bound {outcome.bound}), throttled {outcome.throttled}, {outcome.seconds:.1f} s"
    )
    assert outcome.faults >= 1
    assert outcome.lost == 0, f"not final {outcome.not_final}, never accepted {outcome.never_accepted}"
    assert outcome.accepted - outcome.duplicates == JOBS
    assert outcome.duplicates <= outcome.bound


async def test_a_redis_restart_under_a_shared_rate_limit(chaos_redis_empty: RedisServer, tmp_path: Path) -> None:
    cfg = small(tmp_path, tps=1500, max_faults=1)  # ~7.6 s on a quiet machine
    outcome = await chaos.run_scenario("redis", chaos_redis_empty, cfg, quiet=True)
    assert outcome.lost == 0, f"not final {outcome.not_final}, never accepted {outcome.never_accepted}"


async def test_redis_restarts_with_a_short_claim_idle(chaos_redis_empty: RedisServer, tmp_path: Path) -> None:
    outcome = await chaos.run_scenario("redis", chaos_redis_empty, small(tmp_path), quiet=True)
    assert outcome.lost == 0
    assert outcome.duplicates <= outcome.bound
