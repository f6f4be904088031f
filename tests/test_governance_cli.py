"""The governance commands end to end on the test Redis: bootstrap, operators, a campaign, audit, report."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.cli import main
from taxsms.governance.units import EXAMPLE_UNITS
from taxsms.queue.keys import Keys

PW = "correct horse"


@pytest.fixture
def taxsms(redis_url: str, keys: Keys, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `taxsms ARGS...` (governance commands only) against this test's prefix: returns the exit code."""
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PW)
    monkeypatch.setenv("TAXSMS_NEW_PASSWORD", PW)

    def run(*argv: str) -> int:
        return main([*argv, "--redis-url", redis_url, "--prefix", keys.prefix])

    return run


def _redis(url: str, coro_factory):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        redis = Redis.from_url(url)
        try:
            return await coro_factory(redis)
        finally:
            await redis.aclose()

    return asyncio.run(go())


def test_governance_commands(taxsms, capsys, tmp_path: Path, redis_url: str, keys: Keys) -> None:  # type: ignore[no-untyped-def]
    assert taxsms("units", "load", str(EXAMPLE_UNITS)) == 0
    assert taxsms("units", "load", str(EXAMPLE_UNITS)) == 1  # replacing the tree needs a province admin
    assert taxsms("units", "load", str(EXAMPLE_UNITS), "--as", "P001") == 1  # no such operator yet
    assert taxsms("operator", "add", "P001", "--name", "王省", "--bootstrap") == 0
    assert taxsms("units", "load", str(EXAMPLE_UNITS), "--as", "P001") == 0
    assert taxsms("operator", "add", "P002", "--name", "钱省", "--unit", "prov", "--role", "admin", "--as", "P001") == 0
    assert (
        taxsms("operator", "add", "C001", "--name", "赵市", "--unit", "city-east", "--role", "admin", "--as", "P001")
        == 0
    )
    assert taxsms("operator", "confirm", "C001", "--as", "P001") == 1  # not by the account's creator
    assert taxsms("operator", "confirm", "C001", "--as", "P002") == 0
    for staff_code, name in (("C010", "钱市"), ("C011", "陈市")):
        command = ["operator", "add", staff_code, "--name", name, "--unit", "city-east", "--role", "publisher"]
        assert taxsms(*command, "--as", "C001") == 0
        assert taxsms("operator", "confirm", staff_code, "--as", "P001") == 0
    assert (
        taxsms("operator", "add", "X", "--name", "某", "--unit", "county-w1", "--role", "publisher", "--as", "C001")
        == 1
    )
    capsys.readouterr()

    assert taxsms("operator", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in listed] == ["C001", "C010", "C011", "P001", "P002"]
    assert listed[1]["name"] == "钱*" and listed[1]["roles"] == ["publisher"]

    recipients = tmp_path / "to.csv"
    recipients.write_text("phone,unit\n13800138000,county-e1\n13900139000,county-e2\n", encoding="utf-8")
    create = ["campaign", "create", "--name", "会议通知", "--recipients", str(recipients)]
    assert taxsms(*create, "--text", "网上赌博", "--as", "C010") == 1  # content review
    assert "赌博" in capsys.readouterr().err
    assert taxsms(*create, "--text", "明天9点开会。", "--as", "C010") == 0
    campaign_id = re.search(r"campaign (\S+):", capsys.readouterr().out)[1]  # type: ignore[index]
    assert taxsms("campaign", "approve", campaign_id, "--as", "C010") == 1  # not by its creator
    assert "second person" in capsys.readouterr().err
    assert taxsms("campaign", "approve", campaign_id, "--as", "C011") == 0
    assert "2 messages enqueued" in capsys.readouterr().out
    assert taxsms("campaign", "status", campaign_id, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"] == {"queued": 2} and status["campaign"]["state"] == "approved"

    outside = tmp_path / "west.csv"
    outside.write_text("13800138000,county-w1\n", encoding="utf-8")
    command = ["campaign", "create", "--name", "x", "--recipients", str(outside), "--text", "通知", "--as", "C010"]
    assert taxsms(*command) == 1
    err = capsys.readouterr().err
    assert "138****8000" in err and "13800138000" not in err

    assert taxsms("operator", "suspend", "C011", "--reason", "违规", "--as", "C001") == 0
    assert taxsms("operator", "suspend", "C011", "--reason", "违规", "--as", "C011") == 1  # can't log in
    assert taxsms("operator", "reinstate", "C011", "--as", "C001") == 0
    assert taxsms("audit", "verify") == 0
    assert "intact" in capsys.readouterr().out

    usage = {"county-e1|notice": 2, "county-e1|*": 2, "city-east|internal": 5}
    _redis(redis_url, lambda redis: redis.hset(keys.usage("2026-11"), mapping=usage))
    assert taxsms("report", "usage", "--month", "2026-11", "--json") == 0
    report = {row["unit"]: row["total"] for row in json.loads(capsys.readouterr().out)["units"]}
    assert report["city-east"] == {"notice": 2, "internal": 5, "total": 7} and report["prov"]["total"] == 7
    assert taxsms("report", "usage", "--month", "2026-11") == 0
    assert "东市税务局 (city-east): 7" in capsys.readouterr().out

    _redis(redis_url, lambda redis: redis.xdel(keys.audit, "0-0"))  # nothing to delete: still intact
    entries = _redis(redis_url, lambda redis: redis.xrange(keys.audit, count=3))
    _redis(redis_url, lambda redis: redis.xdel(keys.audit, entries[2][0]))
    assert taxsms("audit", "verify") == 1
    assert "BROKEN at entry 3" in capsys.readouterr().err
