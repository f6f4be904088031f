"""`taxsms template ...` and `taxsms review ...` handlers, against the real Redis for the load commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from taxsms.cli import main
from taxsms.queue.keys import Keys
from tests.governance_support import PASSWORD, operators, seed_units


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


def _seed(redis_url: str, keys: Keys) -> None:
    async def go() -> None:
        client = Redis.from_url(redis_url)
        try:
            tree = await seed_units(client, keys)
            await operators(client, keys, tree)  # padmin: province admin; e1pub: a county publisher
        finally:
            await client.aclose()

    asyncio.run(go())


def test_load_commands_need_a_province_operator_and_are_audited(
    redis_url: str, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(redis_url, keys)
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PASSWORD)
    target = ["--redis-url", redis_url, "--prefix", keys.prefix]
    assert _run(["template", "load", *target]) == 1  # no operator: refused
    assert _run(["template", "load", *target, "--as", "e1pub"]) == 1  # a county publisher may not
    assert _run(["template", "load", *target, "--as", "padmin"]) == 0
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    assert _run(["review", "load", str(empty), *target, "--as", "e1pub"]) == 1
    assert _run(["review", "load", str(empty), *target, "--as", "padmin"]) == 1  # would empty the list
    assert "--allow-shrink" in capsys.readouterr().err
    terms = tmp_path / "terms.txt"
    terms.write_text("[fraud]\n刷单\n", encoding="utf-8")
    assert _run(["review", "load", str(terms), *target, "--as", "padmin"]) == 1  # 1 term for ~100
    assert _run(["review", "load", str(terms), *target, "--as", "padmin", "--allow-shrink"]) == 0
    client = sync_redis.Redis.from_url(redis_url)
    try:
        assert client.hexists(keys.templates, "filing_reminder")
        assert "刷单" in client.get(keys.forbidden_terms).decode()  # type: ignore[union-attr]
        entries = [json.loads(f[b"details"]) | {"action": f[b"action"].decode(), "actor": f[b"actor"].decode()}
                   for _, f in client.xrange(keys.audit)]  # fmt: skip
    finally:
        client.close()
    loads = [(e["action"], e["actor"]) for e in entries if e["action"] in ("review.load", "template.change")]
    assert loads == [("template.change", "padmin"), ("review.load", "padmin"), ("review.load", "padmin"),
                     ("review.load", "padmin")]  # fmt: skip  # two refused, then the load
    assert [e["actor"] for e in entries if e["action"] == "login.failed"] == []
    assert sum(1 for e in entries if e["action"] == "review.load" and e.get("terms") == 1) == 2
