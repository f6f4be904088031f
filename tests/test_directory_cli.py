"""`taxsms directory|filings|reminders ...` and `subscriptions show` through the real parser, against real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
import redis as sync_redis
from redis.asyncio import Redis

from taxsms.cli import main
from taxsms.directory.ids import uscc_check_character
from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.jobs import job_json
from taxsms.queue.keys import Keys


def uscc(n: int) -> str:
    first = f"91350100{n:09d}"
    return first + uscc_check_character(first)


def run(keys: Keys, url: str, *argv: str) -> int:
    command, sub, *rest = argv
    return main([command, sub, "--redis-url", url, "--prefix", keys.prefix, *rest])


@pytest.fixture
def loaded(redis_url: str, keys: Keys, tmp_path: Path) -> Path:
    async def load() -> None:
        client = Redis.from_url(redis_url)
        await save_units(client, keys, UnitTree.from_file())
        await client.aclose()

    asyncio.run(load())
    return tmp_path


def _token(redis_url: str, keys: Keys) -> str:
    from tests.governance_support import county_token

    async def issue() -> str:
        client = Redis.from_url(redis_url)
        try:
            return await county_token(client, keys)
        finally:
            await client.aclose()

    return asyncio.run(issue())


def test_import_show_list_plan_and_trail(
    redis_url: str, keys: Keys, loaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = loaded / "taxpayers.csv"
    path.write_text("taxpayer_id,name,unit,phones\n"
                    f"{uscc(1)},甲公司,county-e1,13800000001:legal:1\n"
                    f"{uscc(2)},乙公司,county-e1,13800000002:finance:1\n"
                    "bad,丙公司,county-e1,13800000003:legal\n", encoding="utf-8")  # fmt: skip
    assert run(keys, redis_url, "directory", "import", str(path), "--operator", "op-9") == 5  # partial
    captured = capsys.readouterr()
    assert "3 taxpayers rows" in captured.out and "2 stored, 1 refused" in captured.out
    assert "line 4: taxpayer id 'bad'" in captured.err
    assert run(keys, redis_url, "directory", "show", uscc(1)) == 0
    out = capsys.readouterr().out
    assert uscc(1) not in out and "甲公司" not in out and "甲**" in out
    assert "138****0001 legal_representative: subscribed" in out
    assert run(keys, redis_url, "directory", "list", "--unit", "city-east") == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2

    filings = loaded / "filings.csv"
    filings.write_text(f"taxpayer_id,tax,period,filed_at\n{uscc(2)},VAT,2026-11,\n", encoding="utf-8")
    assert run(keys, redis_url, "filings", "import", str(filings)) == 0
    # 3 working days before 2026-12-15 is the 10th: starting after its window closed cannot finish in time
    plan = ["--tax", "VAT", "--period", "2026-11", "--tps", "10", "--start", "2026-12-10T18:30"]
    plan += ["--token", _token(redis_url, keys)]  # sent as county-e1's system
    assert run(keys, redis_url, "reminders", "plan", *plan) == 2
    captured = capsys.readouterr()
    assert "deadline 2026-12-15" in captured.out
    assert "REFUSED: 1 of 1 would go out after 2026-12-11 00:00" in captured.err
    client = sync_redis.Redis.from_url(redis_url)
    assert client.hlen(keys.counts) == 0  # nothing enqueued
    plan[7] = "2026-12-10T17:00"
    assert run(keys, redis_url, "reminders", "plan", *plan) == 0
    out = capsys.readouterr().out
    assert "1 reminders to send" in out and "county-e1" in out and "1 enqueued" in out
    assert run(keys, redis_url, "reminders", "plan", *plan) == 0
    assert "0 enqueued (1 already planned)" in capsys.readouterr().out

    assert run(keys, redis_url, "subscriptions", "show", "13800000001") == 0
    out = capsys.readouterr().out
    assert f"by import i1 {path} (by op-9" in out and "row 2" in out and uscc(1) not in out
    client.close()


def test_deadline_command_refuses_a_year_without_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["filings", "deadline", "VAT:2026-09"]) == 0
    assert "2026-10-22" in capsys.readouterr().out
    assert main(["filings", "deadline", "VAT:2026-12"]) == 2
    assert "no holiday data for 2027" in capsys.readouterr().err
    calendar = tmp_path / "calendar.toml"
    calendar.write_text('[2027]\n"VAT:2026-12" = 2027-01-18\n', encoding="utf-8")
    assert main(["filings", "deadline", "VAT:2026-12", "--calendar", str(calendar)]) == 0
    assert "2027-01-18 (published in" in capsys.readouterr().out


def test_overdue_notices_need_the_signing_operator_logged_in(
    redis_url: str, keys: Keys, loaded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`reminders overdue --operator ID` signs with that operator's name: without its password nothing is planned."""
    from tests.governance_support import PASSWORD, operators

    async def seed() -> None:
        client = Redis.from_url(redis_url)
        await operators(client, keys, UnitTree.from_file())
        await client.aclose()

    asyncio.run(seed())
    overdue = ["--tax", "VAT", "--period", "2026-11", "--tps", "10", "--start", "2026-12-16T09:00"]
    overdue += ["--operator", "e1col", "--file-by", "2026-12-20"]
    monkeypatch.delenv("TAXSMS_OPERATOR_PASSWORD", raising=False)
    assert run(keys, redis_url, "reminders", "overdue", *overdue) != 0
    assert "give the password of operator e1col" in capsys.readouterr().err
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", "wrong")
    assert run(keys, redis_url, "reminders", "overdue", *overdue) != 0
    assert "wrong password" in capsys.readouterr().err
    client = sync_redis.Redis.from_url(redis_url)
    assert client.hlen(keys.counts) == 0  # nothing enqueued
    assert any(b"login.failed" in raw for _, entry in client.xrange(keys.audit) for raw in entry.values())
    client.close()
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PASSWORD)
    assert run(keys, redis_url, "reminders", "overdue", *overdue) == 0
    assert "0 enqueued" in capsys.readouterr().out  # logged in; the directory has nobody overdue


def test_reminders_are_planned_as_a_logged_in_sender_and_admitted_per_job(
    redis_url: str, keys: Keys, loaded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`reminders plan` sends as --as/--token: without one nothing is planned; with one, each job carries the
    sender and is admitted for it (one outside its unit refused, with the reason), both audited."""
    from tests.governance_support import PASSWORD, operators

    async def seed() -> None:
        client = Redis.from_url(redis_url)
        await operators(client, keys, UnitTree.from_file())
        await client.aclose()

    asyncio.run(seed())
    path = loaded / "taxpayers.csv"
    path.write_text("taxpayer_id,name,unit,phones\n"
                    f"{uscc(1)},甲公司,county-e1,13800000001:legal:1\n"
                    f"{uscc(2)},丙公司,county-w1,13800000002:legal:1\n", encoding="utf-8")  # fmt: skip
    assert run(keys, redis_url, "directory", "import", str(path), "--operator", "op-9") == 0
    plan = ["--tax", "VAT", "--period", "2026-11", "--tps", "10", "--start", "2026-12-10T09:00"]
    monkeypatch.delenv("TAXSMS_TOKEN", raising=False)
    capsys.readouterr()
    assert run(keys, redis_url, "reminders", "plan", *plan) != 0
    captured = capsys.readouterr()
    assert "anonymous jobs are refused" in captured.err and "deadline" not in captured.out  # nothing planned
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PASSWORD)
    assert run(keys, redis_url, "reminders", "plan", *plan, "--as", "e1col", "--unit", "prov") == 5
    captured = capsys.readouterr()
    assert "2 reminders to send" in captured.out and "1 enqueued" in captured.out
    assert "1 refused for operator:e1col" in captured.out and "outside its jurisdiction" in captured.err
    client = sync_redis.Redis.from_url(redis_url)
    ((_, fields),) = client.xrange(keys.lane(2))  # the reminder lane
    job = msgspec.json.decode(job_json(fields[b"job"]))
    assert job["principal"] == "operator:e1col" and job["recipient_unit"] == "county-e1"
    assert job["text"].startswith("【东市甲县税务局】") and job["text"].endswith("（经办人：李征收）")
    entries = [e for _, e in client.xrange(keys.audit) if e[b"action"].startswith(b"send")]
    audit = {(e[b"actor"], e[b"action"], msgspec.json.decode(e[b"details"])["path"]) for e in entries}
    assert audit == {(b"operator:e1col", b"send", "reminders"), (b"operator:e1col", b"send.refused", "reminders")}
    client.close()
