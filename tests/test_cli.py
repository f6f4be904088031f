"""The `taxsms` command's contract: enqueue, status (counts keyed by state, one job masked), plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taxsms.cli import main


def test_enqueue_then_status(tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        '{"id": "c1", "kind": "notice", "to": "13800138000", "text": "【某县税务局】通知"}\n'
        '{"id": "c2", "kind": "lottery", "to": "13800138000", "text": "【某县税务局】x"}\n'
    )
    common = ["--redis-url", redis_url, "--prefix", "cli-test"]
    assert main(["enqueue", *common, str(jobs)]) == 5  # partial: one refused
    assert "enqueued 1 jobs; 1 refused" in capsys.readouterr().out
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
