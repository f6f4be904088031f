"""Filing periods and their deadlines (pure date arithmetic over a taxsms.holidays.Calendar).

A monthly ('2026-11') or quarterly ('2026-Q3') return is due by the 15th of the month after the period.
When the first 15 days of that month hold 3 or more consecutive days off (a statutory holiday with the
weekend days around it), the deadline is extended by that many days; when the last day is then a day
off, it moves to the first working day after it. The bureau's published calendar (a calendar file)
overrides the computed date. A deadline in a year without holiday data is refused (NoHolidayData),
unless the calendar file gives that deadline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from taxsms.errors import InvalidInput
from taxsms.holidays import Calendar, NoHolidayData
from taxsms.queue.jobs import CHINA

_PERIOD = re.compile(r"^(?P<year>\d{4})-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4]))$")
_TAX = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")
NORMAL_DAY = 15
MIN_HOLIDAY_RUN = 3


class PeriodError(InvalidInput):
    """A tax type or period that is not of the expected form."""


@dataclass(frozen=True, slots=True)
class Filing:
    """One tax return: a tax type ('VAT') and a period ('2026-11' or '2026-Q3'); str() is 'VAT:2026-11'."""

    tax: str
    period: str

    @classmethod
    def parse(cls, text: str) -> Filing:
        """'VAT:2026-11' -> Filing('VAT', '2026-11')."""
        tax, sep, period = text.partition(":")
        if not sep:
            raise PeriodError(f"expected TAX:PERIOD (e.g. VAT:2026-11), got {text!r}")
        return cls.of(tax, period)

    @classmethod
    def of(cls, tax: str, period: str) -> Filing:
        tax, period = tax.strip().upper(), period.strip().upper()
        if not _TAX.match(tax):
            raise PeriodError(f"tax type {tax!r}: expected a short code such as VAT, CIT, IIT")
        if not _PERIOD.match(period):
            raise PeriodError(f"period {period!r}: expected YYYY-MM (monthly) or YYYY-Qn (quarterly)")
        return cls(tax, period)

    def __str__(self) -> str:
        return f"{self.tax}:{self.period}"

    @property
    def due_month(self) -> date:
        """The first day of the month the return is due in (the month after the period)."""
        match = _PERIOD.match(self.period)
        assert match is not None
        year = int(match["year"])
        last = int(match["month"]) if match["month"] else int(match["quarter"]) * 3
        return date(year + 1, 1, 1) if last == 12 else date(year, last + 1, 1)


@dataclass(frozen=True, slots=True)
class Deadline:
    """The last day to file, how it was found, and the moment it passes (the end of that day, China time)."""

    filing: Filing
    day: date
    reason: str

    @property
    def ends_at(self) -> datetime:
        """00:00 China time after the last day: reminders expire then, overdue notices may start."""
        return datetime.combine(self.day + timedelta(days=1), time(0), CHINA)


def holiday_runs(first: date, last: date, calendar: Calendar) -> list[tuple[date, int]]:
    """(start, length) of each run of consecutive days off between `first` and `last` (both included)."""
    runs: list[tuple[date, int]] = []
    start, length, day = first, 0, first
    while day <= last:
        if calendar.is_day_off(day):
            if length == 0:
                start = day
            length += 1
        elif length:
            runs.append((start, length))
            length = 0
        day += timedelta(days=1)
    if length:
        runs.append((start, length))
    return runs


def deadline(filing: Filing, calendar: Calendar) -> Deadline:
    """The filing deadline of `filing`: the calendar file's date, else computed (rules above)."""
    published = calendar.deadline(filing.tax, filing.period)
    if published is not None:
        return Deadline(filing, published, f"published in {calendar.source}")
    month = filing.due_month
    if not calendar.covers(month.year):
        raise NoHolidayData(
            f"no holiday data for {month.year}, so the deadline of {filing} cannot be computed: give a calendar "
            f'file with a [{month.year}] table listing its holidays or the deadline "{filing}" = YYYY-MM-DD'
        )
    normal = month.replace(day=NORMAL_DAY)
    runs = [(start, n) for start, n in holiday_runs(month, normal, calendar) if n >= MIN_HOLIDAY_RUN]
    extension = sum(n for _, n in runs)
    day = normal + timedelta(days=extension)
    reasons = [f"the {NORMAL_DAY}th"]
    if runs:
        spans = ", ".join(f"{n} days off from {start:%m-%d}" for start, n in runs)
        reasons.append(f"extended by {extension} days ({spans})")
    moved = day
    while calendar.is_day_off(moved):
        moved += timedelta(days=1)
    if moved != day:
        reasons.append(f"{day:%m-%d} is a day off, moved to the next working day")
    return Deadline(filing, moved, "; ".join(reasons))


def working_days_before(day: date, count: int, calendar: Calendar) -> date:
    """The working day `count` working days before `day` (count 0: `day` itself)."""
    while count > 0:
        day -= timedelta(days=1)
        if not calendar.is_day_off(day):
            count -= 1
    return day
