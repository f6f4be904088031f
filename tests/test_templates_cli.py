"""`taxsms template ...` and `taxsms review ...` handlers, against the real Redis for the load commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis as sync_redis

from taxsms.cli import main
from taxsms.queue.keys import Keys


def _run(argv: list[str]) -> int:
    return main(argv)


def test_template_preview(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["template", "preview", "overdue_filing", "--unit", "某县税务局", "--operator", "李四"]
    argv += ["--var", "name=张三", "--var", "period=2026年10月", "--var", "tax=增值税", "--var", "deadline=11月30日"]
    assert _run(argv) == 0
    out = capsys.readouterr().out
    assert "【某县税务局】尊敬的张三" in out and "clean" in out


def test_template_preview_reports_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["template", "preview", "overdue_filing", "--unit", "某县税务局", "--operator", "李四"]) == 2
    assert "missing" in capsys.readouterr().err


def test_template_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["template", "list"]) == 0
    assert "filing_reminder" in capsys.readouterr().out


def test_review_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["review", "check", "诚信纳税"]) == 0
    assert _run(["review", "check", "网上賭 博"]) == 1
    assert "赌博 (gambling)" in capsys.readouterr().out


def test_load_commands(redis_url: str, keys: Keys, tmp_path: Path) -> None:
    assert _run(["template", "load", "--redis-url", redis_url, "--prefix", keys.prefix]) == 0
    terms = tmp_path / "terms.txt"
    terms.write_text("[fraud]\n刷单\n", encoding="utf-8")
    assert _run(["review", "load", str(terms), "--redis-url", redis_url, "--prefix", keys.prefix]) == 0
    client = sync_redis.Redis.from_url(redis_url)
    try:
        assert client.hexists(keys.templates, "filing_reminder")
        assert "刷单" in client.get(keys.forbidden_terms).decode()  # type: ignore[union-attr]
    finally:
        client.close()
