"""The gate's commands end to end: quota set, unit suspension, systems, campaign cancel, audit list/export."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.cli import main
from taxsms.governance.policy import Principal, PrincipalKind
from taxsms.governance.registry import PrincipalBook
from taxsms.queue.jobs import Kind
from taxsms.queue.keys import Keys
from tests.governance_support import PASSWORD, operators, seed_units


def _seed(redis_url: str, keys: Keys) -> None:
    async def go() -> None:
        client = Redis.from_url(redis_url)
        try:
            await operators(client, keys, await seed_units(client, keys))
        finally:
            await client.aclose()

    asyncio.run(go())


def _keeper(redis_url: str, keys: Keys, tag: str) -> str:
    """Who the registry records as `tag`'s keeper (the one record of it: intake and the worker read it there)."""

    async def go() -> str:
        client = Redis.from_url(redis_url)
        try:
            record = await PrincipalBook(client, keys).record(tag)
        finally:
            await client.aclose()
        assert record is not None
        return record.created_by

    return asyncio.run(go())


def test_gate_commands(
    redis_url: str, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(redis_url, keys)
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PASSWORD)
    target = ["--redis-url", redis_url, "--prefix", keys.prefix]
    assert main(["quota", "set", "county-e1", "7", *target, "--as", "e1admin"]) == 1  # not above its own unit
    assert main(["quota", "set", "county-e1", "7", *target, "--as", "eadmin"]) == 0
    assert main(["quota", "show", "county-e1", *target]) == 0
    assert "0 of 7 segments used" in capsys.readouterr().out
    assert main(["units", "suspend", "county-e1", "--reason", "违规群发", *target, "--as", "e1admin"]) == 1
    assert main(["units", "suspend", "county-e1", "--reason", "违规群发", *target, "--as", "eadmin"]) == 0
    assert main(["units", "reinstate", "county-e1", *target, "--as", "eadmin"]) == 0
    kinds = ["--kind", "filing_reminder", "--kind", "overdue_filing"]
    assert main(["system", "add", "filing-e1", "--unit", "county-e1", *kinds, *target, "--as", "e1pub"]) == 1
    assert (
        main(["system", "add", "filing-e1", "--unit", "county-e1", "--kind", "notice", *target, "--as", "e1admin"]) != 0
    )
    assert main(["system", "add", "filing-e1", "--unit", "county-e1", *kinds, *target, "--as", "e1admin"]) == 0
    assert "system:filing-e1" in capsys.readouterr().out
    assert _keeper(redis_url, keys, "system:filing-e1") == "e1admin"  # it answers to the one who registered it
    recipients = tmp_path / "to.csv"
    recipients.write_text("13800138000,county-e1\n", encoding="utf-8")
    create = ["campaign", "create", "--name", "通知", "--recipients", str(recipients), "--text", "明天开会。"]
    assert main([*create, *target, "--as", "e1pub"]) == 0
    campaign_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert main(["campaign", "cancel", campaign_id, "--reason", "日期有误", *target, "--as", "e1pub"]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(["campaign", "list", *target, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "cancelled"
    assert main(["audit", "list", *target, "--unit", "county-e1", "--json"]) == 0
    actions = [e["action"] for e in json.loads(capsys.readouterr().out)]
    for action in ("quota.set", "unit.suspend", "unit.reinstate", "system.add", "campaign.create", "campaign.cancel"):
        assert action in actions, action
    assert main(["audit", "list", *target, "--operator", "eadmin", "--action", "unit."]) == 0
    assert capsys.readouterr().out.count("unit.") == 2
    export = tmp_path / "audit.jsonl"
    assert main(["audit", "export", *target, "--output", str(export)]) == 0
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["seq"] == 1 and all("hash" in line and "prev" in line for line in lines)
    assert main(["audit", "verify", *target]) == 0


def test_api_token_create_needs_an_authenticated_admin_whose_scope_bounds_the_token(
    redis_url: str, keys: Keys, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _seed(redis_url, keys)
    target = ["--redis-url", redis_url, "--prefix", keys.prefix]
    create = ["api-token", "create", "--kinds", "filing_reminder,overdue_filing", *target]
    with pytest.raises(SystemExit):  # no acting operator at all: a usage error
        main([*create, "--unit", "county-e1"])
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", "wrong")
    assert main([*create, "--unit", "county-e1", "--as", "e1admin"]) == 1
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PASSWORD)
    assert main([*create, "--unit", "county-e1", "--as", "e1pub"]) == 1  # not an admin
    assert main([*create, "--unit", "city-east", "--as", "e1admin"]) == 1  # above its own unit
    assert main([*create, "--unit", "county-e1", "--recipient-units", "county-e2", "--as", "eadmin"]) == 1
    capsys.readouterr()
    assert main([*create, "--unit", "county-e1", "--recipient-units", "sub-e1-town", "--as", "eadmin"]) == 0
    out = capsys.readouterr()
    token_id = out.err.split()[2]
    assert out.out.startswith("tsk_")
    assert _keeper(redis_url, keys, f"token:{token_id}") == "eadmin"  # its issuer
    assert main(["api-token", "revoke", token_id, *target, "--as", "e1pub"]) == 1
    assert main(["api-token", "revoke", token_id, *target, "--as", "e1admin"]) == 0
    capsys.readouterr()
    assert main(["audit", "list", *target, "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    by_action = [(e["action"], e["actor"]) for e in entries]
    assert ("login.failed", "e1admin") in by_action
    refused = [actor for action, actor in by_action if action == "token.refused"]
    assert refused == ["e1pub", "e1admin", "eadmin", "e1pub"]
    assert ("token.create", "eadmin") in by_action and ("token.revoke", "e1admin") in by_action


def test_system_list_shows_whom_each_system_and_token_answers_to(
    redis_url: str, keys: Keys, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its keeper, a suspended one said so; those registered before keepers were recorded, or kept by no
    operator, are named as out of the suspension rule, with what to do."""
    _seed(redis_url, keys)
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PASSWORD)
    target = ["--redis-url", redis_url, "--prefix", keys.prefix]
    assert main(["system", "list", *target]) == 0
    assert capsys.readouterr().out == ""  # nothing registered: no summary either
    kinds = ["--kind", "filing_reminder"]
    assert main(["system", "add", "filing-e1", "--unit", "county-e1", *kinds, *target, "--as", "e1admin"]) == 0
    create = ["api-token", "create", "--kinds", "filing_reminder", "--unit", "county-e1", "--name", "crm"]
    assert main([*create, *target, "--as", "eadmin"]) == 0
    token_id = capsys.readouterr().err.split()[2]

    async def legacy() -> None:  # as `system add` and `api-token create` recorded them before keepers were
        client = Redis.from_url(redis_url)
        book, kinds = PrincipalBook(client, keys), frozenset({Kind.FILING_REMINDER})
        for kind, name, keeper in ((PrincipalKind.SYSTEM, "old-e1", ""), (PrincipalKind.TOKEN, "0ld70k3n", ""),
                                   (PrincipalKind.SYSTEM, "boot-e1", "bootstrap")):  # fmt: skip
            await book.register(Principal(kind, name, "county-e1", kinds, keeper=keeper), name)
        await client.aclose()

    asyncio.run(legacy())
    assert main(["operator", "suspend", "e1admin", "--reason", "调岗", *target, "--as", "eadmin"]) == 0
    capsys.readouterr()
    assert main(["system", "list", *target]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows.pop("system:boot-e1").endswith("keeper: bootstrap (not an operator; the suspension rule cannot apply)")
    suspended = "keeper: e1admin (suspended: it sends nothing until they are reinstated)"
    assert rows.pop("system:filing-e1").endswith(suspended)
    never = "keeper: none recorded ({} before keepers were kept; the suspension rule cannot apply)"
    assert rows.pop("system:old-e1").endswith(never.format("registered"))
    assert rows.pop("token:0ld70k3n").endswith(never.format("issued"))
    assert rows.pop(f"token:{token_id}").endswith("  crm  keeper: eadmin")
    assert rows == {
        "3": "3 of 5 answer to no operator: re-register them (taxsms system add; taxsms api-token create, then "
        "revoke the old token) so that the suspension rule applies"
    }
