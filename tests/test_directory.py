"""The directory on real Redis: ids, records, CSV import with line-numbered errors, consent from imports,
filings, audiences and reminder plans."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.directory.audiences import Audience, AudienceKind, resolve
from taxsms.directory.deadlines import Filing
from taxsms.directory.directory import Change, Directory, Origin
from taxsms.directory.filings import FilingBook, FilingEvent
from taxsms.directory.ids import TaxpayerIdError, uscc_check_character, validate_taxpayer_id
from taxsms.directory.imports import ImportFileError, import_file
from taxsms.directory.records import DirectoryError, Role, Taxpayer, taxpayer
from taxsms.directory.reminders import PlanRefused, plan_overdue, plan_reminders
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.governance.errors import OutOfScope
from taxsms.governance.operators import Operator
from taxsms.governance.operators import Role as OperatorRole
from taxsms.governance.policy import UPSTREAM_KINDS, Principal, PrincipalKind
from taxsms.governance.units import UnitTree
from taxsms.holidays import PACKAGE
from taxsms.queue.jobs import CHINA, Kind
from taxsms.queue.keys import Keys
from taxsms.replies.subscriptions import How
from taxsms.templates.catalog import TemplateCatalog

TREE = UnitTree.from_file()
#: The county's filing system, planning reminders (it signs them; admission would refuse those outside it).
FILING = Principal(PrincipalKind.SYSTEM, "filing", "county-e1", UPSTREAM_KINDS)
CATALOG = TemplateCatalog.from_dir()
VAT_11 = Filing("VAT", "2026-11")  # due 2026-12-15, a Tuesday


def uscc(n: int) -> str:
    first = f"91350100{n:09d}"
    return first + uscc_check_character(first)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA).timestamp()


def test_taxpayer_ids() -> None:
    assert validate_taxpayer_id(" 91350100m000100y43 ") == "91350100M000100Y43"
    assert validate_taxpayer_id("11010519491231002X") == "11010519491231002X"  # a resident id (individual business)
    assert validate_taxpayer_id("110105123456789") == "110105123456789"  # legacy 15-character registration
    with pytest.raises(TaxpayerIdError, match="check character"):
        validate_taxpayer_id("91350100M000100Y44")
    for bad in ("9135", "91350100M000100Y4!", "1" * 21):
        with pytest.raises(TaxpayerIdError):
            validate_taxpayer_id(bad)


def test_records_validate_and_pack_compactly() -> None:
    phones = [("+86 138 0013 8000", "legal"), ("13900139000", "财务")]
    record = taxpayer(TREE, uscc(1), "某某贸易有限公司", "county-e1", phones)
    assert record.contacts[0].phone == "13800138000" and record.contacts[1].role is Role.FINANCE_CONTACT
    assert Taxpayer.unpack(record.id, record.pack()) == record
    assert len(record.pack()) < 60
    assert record.masked()["name"] == "某*******" and "13800138000" not in str(record.masked())
    with pytest.raises(DirectoryError, match="taxpayers belong to a county or sub_bureau"):
        taxpayer(TREE, uscc(1), "x", "city-east", [("13800138000", "legal")])
    with pytest.raises(DirectoryError, match="unknown unit"):
        taxpayer(TREE, uscc(1), "x", "county-zz", [("13800138000", "legal")])
    with pytest.raises(DirectoryError, match="role"):
        taxpayer(TREE, uscc(1), "x", "county-e1", [("13800138000", "boss")])


async def test_import_with_line_numbered_errors_and_consent_trail(redis: Redis, keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "taxpayers.csv"
    path.write_text(
        "taxpayer_id,name,unit,phones\n"
        f"{uscc(1)},甲公司,county-e1,13800000001:legal:1;13800000002:finance\n"
        f"{uscc(2)},乙公司,county-e2,13800000003:agent:0\n"
        "91350100M000100Y44,丙公司,county-e1,13800000004:legal\n"
        f"{uscc(3)},丁公司,city-east,13800000005:legal\n"
        f"{uscc(4)},戊公司,county-e1,10086:legal\n"
        "\n"
        f"{uscc(5)},己公司,sub-e1-town,13800000001:agent:1\n",
        encoding="utf-8",
    )
    directory = Directory(redis, keys)
    report = await import_file(directory, TREE, path, operator="op-1", clock=lambda: at("2026-12-01 09:00"))
    assert (report.kind, report.rows, report.stored, report.failed) == ("taxpayers", 6, 3, 3)
    assert [line for line, _ in report.errors] == [4, 5, 6]
    assert "check character" in report.errors[0][1] and "10086" in report.errors[2][1]
    assert await directory.count() == 3
    first = await directory.get(uscc(1))
    assert first is not None and first.unit == "county-e1" and first.phones == ("13800000001", "13800000002")
    consent = await directory.consent.records(["13800000001", "13800000002", "13800000003"])
    assert consent["13800000001"].taxpayers == {uscc(1): "1", uscc(5): "1"}  # a tax agent's phone: two taxpayers
    assert consent["13800000002"].taxpayers == {uscc(1): "?"}  # registered, never asked
    assert consent["13800000003"].taxpayers == {uscc(2): "0"}
    entry = consent["13800000001"].trail[0]
    assert (entry.how, entry.detail) == ("import", "2") and str(path) in await directory.consent.import_info(entry.ref)
    # re-importing the same file changes nothing and adds no trail lines
    again = await import_file(directory, TREE, path, clock=lambda: at("2026-12-01 10:00"))
    assert again.stored == 0
    assert len((await directory.consent.records(["13800000001"]))["13800000001"].trail) == 2
    # a taxpayer that drops a phone is taken off it
    moved = taxpayer(TREE, uscc(1), "甲公司", "county-e1", [("13800000002", "legal")])
    await directory.apply([Change(moved, {}, Origin(How.STAFF, "op-2", "phone changed"))], at("2026-12-02 09:00"))
    record = (await directory.consent.records(["13800000001"]))["13800000001"]
    assert record.taxpayers == {uscc(5): "1"} and record.trail[-1].state == "x"
    with pytest.raises(ImportFileError, match="header"):
        (tmp_path / "bad.csv").write_text("id,name\n", encoding="utf-8")
        await import_file(directory, TREE, tmp_path / "bad.csv")


async def test_staff_import_and_audience(redis: Redis, keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_text("staff_code,name,unit,phone\nE001,张三,city-east,13700000001\nE002,李四,county-e1,13700000002\n"
                    "W001,王五,county-w1,13700000003\nX,赵六,nowhere,13700000004\n", encoding="utf-8")  # fmt: skip
    directory = Directory(redis, keys)
    report = await import_file(directory, TREE, path)
    assert (report.kind, report.stored, report.failed, report.errors[0][0]) == ("staff", 3, 1, 5)
    resolved = await resolve(directory, TREE, Audience(AudienceKind.STAFF, "city-east"))
    assert sorted(resolved.recipients) == [("13700000001", "city-east"), ("13700000002", "county-e1")]
    assert resolved.sample[0].startswith("137****000") and "张*" in "".join(resolved.sample)


async def _directory_of_four(redis: Redis, keys: Keys) -> Directory:
    """uscc(1..3) in county-e1 (1: subscribed, 2: subscribed, 3: not), uscc(4) in county-e2 (subscribed)."""
    directory = Directory(redis, keys)
    origin = Origin(How.IMPORT, "i0", "1")
    rows = [(1, "county-e1", True), (2, "sub-e1-town", True), (3, "county-e1", False), (4, "county-e2", True)]
    changes = []
    for n, unit, subscribed in rows:
        record = taxpayer(TREE, uscc(n), f"公司{n}", unit, [(f"1380000000{n}", "legal")])
        changes.append(Change(record, {record.phones[0]: subscribed}, origin))
    await directory.apply(changes, at("2026-12-01 09:00"))
    return directory


async def test_audiences_of_subscribed_and_unfiled_taxpayers(redis: Redis, keys: Keys) -> None:
    directory = await _directory_of_four(redis, keys)
    await FilingBook(redis, keys, directory).record([FilingEvent(uscc(2), VAT_11, at("2026-12-03 10:00"))])
    everyone = await resolve(directory, TREE, Audience(AudienceKind.TAXPAYERS, "county-e1"))
    assert sorted(everyone.recipients) == [("13800000001", "county-e1"), ("13800000002", "sub-e1-town"),
                                           ("13800000003", "county-e1")]  # fmt: skip
    subscribed = await resolve(directory, TREE, Audience(AudienceKind.TAXPAYERS, "county-e1", subscribed=True))
    assert sorted(p for p, _ in subscribed.recipients) == ["13800000001", "13800000002"]
    unfiled = await resolve(directory, TREE, Audience(AudienceKind.TAXPAYERS, "county-e1", True, VAT_11))
    assert unfiled.recipients == [("13800000001", "county-e1")]
    assert str(Audience(AudienceKind.TAXPAYERS, "county-e1", True, VAT_11)) == (
        "taxpayers of county-e1, subscribed, not filed VAT:2026-11"
    )


async def test_reminder_plan_for_the_unfiled_and_subscribed(redis: Redis, keys: Keys) -> None:
    directory = await _directory_of_four(redis, keys)
    await FilingBook(redis, keys, directory).record([FilingEvent(uscc(2), VAT_11, at("2026-12-03 10:00"))])
    windows = WindowPolicy.build(days_off=True)
    result = await plan_reminders(directory, TREE, CATALOG, VAT_11, sender=FILING, days_before=3, tps=10,
                                  windows=windows, calendar=PACKAGE, clock=lambda: at("2026-12-07 20:00"))  # fmt: skip
    assert result.deadline.day == date(2026, 12, 15)
    assert result.send_by == at("2026-12-11 00:00")  # 3 working days before Tuesday the 15th: Thursday the 10th
    assert (result.taxpayers, result.filed, result.without_consent) == (4, 1, 1)
    assert sorted(job.to for job in result.jobs) == ["13800000001", "13800000004"]
    job = next(job for job in result.jobs if job.to == "13800000001")
    assert job.kind is Kind.FILING_REMINDER and job.taxpayer_id == uscc(1) and job.meta == {"filing": "VAT:2026-11"}
    assert job.text.startswith("【" + TREE.name_of("county-e1") + "】") and job.principal == FILING.tag  # the sender's
    assert "2026年12月15日" in job.text and job.expires_ts == at("2026-12-16 00:00")
    assert result.feasible and set(result.timeline.groups) == {"county-e1", "county-e2"}  # type: ignore[union-attr]
    assert result.timeline.last_send == at("2026-12-08 08:00") + 2 / 10  # type: ignore[union-attr]


async def test_a_plan_that_cannot_finish_in_time_is_not_feasible(redis: Redis, keys: Keys) -> None:
    directory = await _directory_of_four(redis, keys)
    windows = WindowPolicy.build(days_off=True)
    # from Thursday the 10th at 17:59:59.9, at 1 message every 10 s: the first goes, the rest miss the day
    late = at("2026-12-10 17:59:59.9")
    result = await plan_reminders(directory, TREE, CATALOG, VAT_11, sender=FILING, days_before=3, tps=0.1,
                                  windows=windows, calendar=PACKAGE, clock=lambda: late)  # fmt: skip
    assert not result.feasible
    assert len(result.jobs) == 3 and result.timeline.overdue == 2  # type: ignore[union-attr]
    assert result.window_hours == pytest.approx(0.1 / 3600)


async def test_overdue_notices_only_after_the_deadline(redis: Redis, keys: Keys) -> None:
    directory = await _directory_of_four(redis, keys)
    await FilingBook(redis, keys, directory).record([FilingEvent(uscc(1), VAT_11, at("2026-12-03 10:00"))])
    officer = Operator("op-c1", "钱七", "county-e1", frozenset({OperatorRole.COLLECTION}))
    args = {"operator": officer, "file_by": date(2026, 12, 25), "tps": 10, "windows": WindowPolicy.build(),
            "calendar": PACKAGE}  # fmt: skip
    with pytest.raises(PlanRefused, match="2026-12-15"):
        await plan_overdue(directory, TREE, CATALOG, VAT_11, clock=lambda: at("2026-12-15 23:00"), **args)
    result = await plan_overdue(directory, TREE, CATALOG, VAT_11, clock=lambda: at("2026-12-16 09:00"), **args)
    assert sorted(job.to for job in result.jobs) == ["13800000002", "13800000003"]  # county-e1 and below, unfiled
    assert all(j.kind is Kind.OVERDUE_FILING and j.operator == "op-c1" and "钱七" in j.text for j in result.jobs)
    assert all(job.unit == "county-e1" for job in result.jobs)  # the sub-bureau's county office signs
    clerk = Operator("op-x", "孙八", "county-e1", frozenset({OperatorRole.PUBLISHER}))
    with pytest.raises(OutOfScope):
        await plan_overdue(directory, TREE, CATALOG, VAT_11, clock=lambda: at("2026-12-16 09:00"),
                           **{**args, "operator": clerk})  # fmt: skip
