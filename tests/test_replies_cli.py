"""`taxsms inbox|subscriptions|invoices ...` through the package's own parser, against real Redis."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as sync_redis
import uvloop
from redis.asyncio import Redis

from taxsms.cli import main
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies.cli import add_commands
from taxsms.replies.inbox import Inbox
from tests.governance_support import PASSWORD, seed_reply_units, staff_operator

PHONE = "13800138000"


def run(keys: Keys, url: str, *argv: str) -> int:
    command, *rest = argv
    sub, *more = rest
    return main([command, sub, "--redis-url", url, "--prefix", keys.prefix, *more])


def test_add_commands_registers_the_commands() -> None:
    parser = argparse.ArgumentParser(prog="taxsms")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["subscriptions", "set", PHONE, "off", "--operator", "op1", "--reason", "asked"])
    assert args.command == "subscriptions" and args.state == "off" and callable(args.handler)
    with pytest.raises(SystemExit):
        parser.parse_args(["subscriptions", "set", PHONE, "maybe", "--operator", "op1", "--reason", "asked"])


def test_subscriptions_set_show_import(
    redis_url: str, keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = sync_redis.Redis.from_url(redis_url)
    staff = ("--operator", "op-7", "--reason", "asked at the counter")
    phone = "+86 138 0013 8000"
    assert run(keys, redis_url, "subscriptions", "set", phone, "on", "--taxpayer-id", "91110000MA1", *staff) == 0
    assert client.hget(keys.subscription_state, PHONE) == b"1"
    assert run(keys, redis_url, "subscriptions", "show", PHONE) == 0
    out = capsys.readouterr().out
    assert "138****8000: subscribed" in out and "9111***0MA1: subscribed" in out and PHONE not in out
    assert "by staff op-7: asked at the counter" in out and "91110000MA1" not in out
    assert run(keys, redis_url, "subscriptions", "show", "13900139000") == 1
    assert run(keys, redis_url, "subscriptions", "set", "10086", "off", *staff) == 2

    path = tmp_path / "subs.csv"
    path.write_text("phone,taxpayer_id,subscribed\n13900139000,X1,0\nbad,X2,1\n", encoding="utf-8")
    assert run(keys, redis_url, "subscriptions", "import", str(path)) == 5  # partial: one row refused
    captured = capsys.readouterr()
    assert "2 rows: 0 subscribed, 1 unsubscribed" in captured.out and "line 3:" in captured.err
    assert client.hget(keys.subscription_state, "13900139000") == b"0"
    assert run(keys, redis_url, "subscriptions", "show", "13900139000") == 0
    out = capsys.readouterr().out
    assert f"by import i1 {path}" in out and "row 2" in out
    assert run(keys, redis_url, "subscriptions", "import", str(tmp_path / "missing.csv")) == 2
    client.close()


def test_invoices_import(redis_url: str, keys: Keys, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "invoices.csv"
    path.write_text("code,number,date,amount\n041001900111,12345678,2026-11-01,10.00\n", encoding="utf-8")
    assert run(keys, redis_url, "invoices", "import", str(path)) == 0
    assert "loaded 1 rows" in capsys.readouterr().out
    client = sync_redis.Redis.from_url(redis_url)
    assert client.hget(keys.invoice("041001900111", "12345678"), "amount") == b"10.00"
    status = tmp_path / "status.csv"
    status.write_text("reference,status\nSL2026001,已办结\n", encoding="utf-8")
    assert run(keys, redis_url, "invoices", "import-status", str(status)) == 0
    client.close()


def test_inbox_list_and_answer(
    redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def create() -> str:
        client = Redis.from_url(redis_url)
        try:
            await seed_reply_units(client, keys)
            await staff_operator(client, keys, "S001", "周客服")
            text = "我要投诉 身份证110101199003071234 电话13900139000 \x1b[2J\x07"
            ticket, _ = await Inbox(client, keys).create(PHONE, text, mo_id="1-0")
            return ticket.id
        finally:
            await client.aclose()

    ticket_id = uvloop.run(create())
    assert run(keys, redis_url, "inbox", "list") == 0
    out = capsys.readouterr().out
    assert ticket_id in out and "138****8000" in out and PHONE not in out and "投诉" in out
    assert "110101199003071234" not in out and "110101********1234" in out and "139****9000" in out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out  # terminal escapes shown, not obeyed
    answer = ["inbox", "answer", ticket_id, "已受理，将于5个工作日内答复"]
    assert run(keys, redis_url, *answer, "--as", "S001") == 2  # no password given: refused
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", "wrong password")
    assert run(keys, redis_url, *answer, "--as", "S001") == 2
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PASSWORD)
    assert run(keys, redis_url, *answer, "--as", "nobody") == 2  # 王芳 is no operator
    assert run(keys, redis_url, *answer, "--as", "S001") == 0
    out = capsys.readouterr().out
    assert f"reply answer-{ticket_id}-1" in out and PHONE not in out
    assert job_kind(redis_url, keys, f"answer-{ticket_id}-1") == "reply"
    assert run(keys, redis_url, "inbox", "list") == 0
    assert "no tickets" in capsys.readouterr().out  # nothing open any more
    assert run(keys, redis_url, "inbox", "list", "--status", "answered") == 0
    assert ticket_id in capsys.readouterr().out
    assert run(keys, redis_url, "inbox", "answer", "T20000101-000001", "答复", "--as", "S001") == 2


def job_kind(redis_url: str, keys: Keys, job_id: str) -> str | None:
    """The kind of a job as the job store reports it (queued or later), None while it is unknown."""

    async def lookup() -> str | None:
        client = Redis.from_url(redis_url)
        try:
            return ((await JobStore(client, keys).job(job_id)) or {}).get("kind")
        finally:
            await client.aclose()

    return uvloop.run(lookup())


def test_replies_run_answers_until_terminated(redis_url: str, keys: Keys) -> None:
    async def seed() -> None:
        client = Redis.from_url(redis_url)
        try:
            await seed_reply_units(client, keys)
        finally:
            await client.aclose()

    uvloop.run(seed())
    client = sync_redis.Redis.from_url(redis_url)
    entry = client.xadd(keys.mo, {"from": PHONE, "to": "12366", "text": "KT", "at": "1795000000.000"}).decode()
    command = [sys.executable, "-m", "taxsms", "replies", "run", "--redis-url", redis_url]
    process = subprocess.Popen([*command, "--prefix", keys.prefix, "--consumer", "cli-test"])
    try:
        deadline = time.monotonic() + 10
        while job_kind(redis_url, keys, f"mo-{entry}") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job_kind(redis_url, keys, f"mo-{entry}") == "reply"
        assert client.hget(keys.subscription_state, PHONE) == b"1"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        client.close()
