"""Filing deadlines: the 15th, holiday extensions, a 15th on a holiday, the bureau's calendar file, years
without holiday data refused; and a reminder plan made with an injected clock against the October deadline."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.directory.deadlines import Filing, PeriodError, deadline, working_days_before
from taxsms.directory.directory import Change, Directory, Origin
from taxsms.directory.ids import uscc_check_character
from taxsms.directory.records import taxpayer
from taxsms.directory.reminders import plan_reminders
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.governance.policy import UPSTREAM_KINDS, Principal, PrincipalKind
from taxsms.governance.units import UnitTree
from taxsms.holidays import PACKAGE, Calendar, CalendarFileError, NoHolidayData
from taxsms.queue.jobs import CHINA
from taxsms.queue.keys import Keys
from taxsms.replies.subscriptions import How
from taxsms.templates.catalog import TemplateCatalog


def due(text: str, calendar: Calendar = PACKAGE) -> date:
    return deadline(Filing.parse(text), calendar).day


def test_an_ordinary_month_is_due_on_the_15th() -> None:
    assert due("VAT:2026-05") == date(2026, 6, 15)  # a Monday, no holiday in June's first half


def test_the_october_deadline_is_extended_by_the_national_day_holiday() -> None:
    found = deadline(Filing.parse("VAT:2026-09"), PACKAGE)
    assert found.day == date(2026, 10, 22)  # 15 + the 7 days off of 2026-10-01..07
    assert "extended by 7 days" in found.reason


def test_a_15th_on_a_holiday_moves_to_the_day_after_the_holiday() -> None:
    assert due("VAT:2026-01") == date(2026, 2, 24)  # 2026-02-15..23: Spring Festival
    assert due("VAT:2026-10") == date(2026, 11, 16)  # 2026-11-15 is a Sunday


def test_a_quarterly_return_is_due_in_the_month_after_the_quarter() -> None:
    assert due("CIT:2026-Q1") == due("VAT:2026-03") == date(2026, 4, 20)  # Qingming 04-04..06: +3, then Monday


def test_a_calendar_file_overrides(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text('[2026]\n"VAT:2026-09" = "2026-10-26"\n"*:2026-05" = 2026-06-16\n', encoding="utf-8")
    calendar = Calendar.load(path)
    found = deadline(Filing.parse("VAT:2026-09"), calendar)
    assert found.day == date(2026, 10, 26) and str(path) in found.reason
    assert due("CIT:2026-05", calendar) == date(2026, 6, 16)  # '*' covers every tax of the period
    assert due("CIT:2026-09", calendar) == date(2026, 10, 22)  # not in the file: computed


def test_a_year_without_holiday_data_is_refused_unless_a_file_covers_it() -> None:
    with pytest.raises(NoHolidayData, match="2027"):
        due("VAT:2026-12")  # due in January 2027: chinese_calendar has no 2027 data
    published = Calendar.parse({"2027": {"VAT:2026-12": "2027-01-18"}})
    assert due("VAT:2026-12", published) == date(2027, 1, 18)
    with pytest.raises(NoHolidayData):
        due("CIT:2026-12", published)  # the file gives VAT's deadline only, and no 2027 holidays
    holidays = Calendar.parse({"2027": {"holidays": ["2027-01-01", "2027-01-02", "2027-01-03"]}})
    assert due("CIT:2026-12", holidays) == date(2027, 1, 18)  # 3 days off: +3 = 01-18, a Monday


def test_bad_calendar_files_and_periods_are_named() -> None:
    with pytest.raises(CalendarFileError, match="not a date"):
        Calendar.parse({"2027": {"VAT:2027-01": "soon"}})
    with pytest.raises(CalendarFileError, match="not in 2027"):
        Calendar.parse({"2027": {"holidays": ["2028-01-01"]}})
    with pytest.raises(PeriodError):
        Filing.parse("VAT:2026-13")
    with pytest.raises(PeriodError):
        Filing.parse("2026-11")


def test_working_days_before_skips_days_off() -> None:
    assert working_days_before(date(2026, 10, 22), 3, PACKAGE) == date(2026, 10, 19)
    assert working_days_before(date(2026, 10, 12), 2, PACKAGE) == date(2026, 10, 9)  # 10-10 is a worked Saturday


async def test_a_plan_made_with_an_injected_clock_uses_the_extended_october_deadline(redis: Redis, keys: Keys) -> None:
    tree = UnitTree.from_file()
    tid = "91350100000000001" + uscc_check_character("91350100000000001")
    record = taxpayer(tree, tid, "甲公司", "county-e1", [("13800000001", "legal")])
    directory = Directory(redis, keys)
    await directory.apply([Change(record, {"13800000001": True}, Origin(How.IMPORT, "i0", "1"))], 0.0)
    moment = datetime(2026, 10, 9, 9, 0, tzinfo=CHINA).timestamp()  # the Friday after National Day
    filing = Principal(PrincipalKind.SYSTEM, "filing", tree.root, UPSTREAM_KINDS)
    result = await plan_reminders(directory, tree, TemplateCatalog.from_dir(), Filing("VAT", "2026-09"), sender=filing,
                                  days_before=3, tps=10, windows=WindowPolicy.build(days_off=True),
                                  calendar=PACKAGE, clock=lambda: moment)  # fmt: skip
    assert result.deadline.day == date(2026, 10, 22)
    # 3 working days before Thursday the 22nd: Monday the 19th, so all must be out by its end
    assert result.send_by == datetime(2026, 10, 20, tzinfo=CHINA).timestamp()
    assert result.feasible and "2026年10月22日" in result.jobs[0].text
    assert result.jobs[0].expires_ts == datetime(2026, 10, 23, tzinfo=CHINA).timestamp()
