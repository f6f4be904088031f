"""The `taxsms` command's contract: enqueue, status (counts keyed by state, one job masked), plan."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.cli import main
from taxsms.queue.keys import Keys
from tests.governance_support import county_token, seed_units


def _token(redis_url: str, prefix: str) -> str:
    async def go() -> str:
        redis = Redis.from_url(redis_url)
        try:
            await seed_units(redis, Keys(prefix, 1))
            return await county_token(redis, Keys(prefix, 1))
        finally:
            await redis.aclose()

    return asyncio.run(go())


def test_enqueue_then_status(tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"id": "c1", "kind": "overdue_filing", "to": "13800138000", "recipient_unit": "county-e1", "text": "通知"}\n'
        '{"id": "c2", "kind": "lottery", "to": "13800138000", "text": "【某县税务局】x"}\n'
    )
    common = ["--redis-url", redis_url, "--prefix", "cli-test"]
    assert main(["enqueue", *common, str(jobs)]) == 1  # anonymous: refused, nothing enqueued
    assert "anonymous jobs are refused" in capsys.readouterr().err
    common += ["--token", _token(redis_url, "cli-test")]
    assert main(["enqueue", *common, str(jobs)]) == 5  # partial: one refused
    assert "enqueued 1 jobs; 1 refused" in capsys.readouterr().out
    common = common[:4]
    assert main(["status", *common, "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["queued"] == 1 and counts["dead_lettered"] == 1
    assert {"submitted", "delivered", "undelivered", "failed", "expired", "suppressed"} <= set(counts)
    assert main(["status", *common, "c1"]) == 0
    out = capsys.readouterr().out
    assert "138****8000" in out and "13800138000" not in out
    assert main(["status", *common, "c1", "--show-phone", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["to"] == "13800138000"
    assert main(["status", *common, "nope"]) == 1
