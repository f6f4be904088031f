"""China's days off (weekends, statutory holidays, make-up working days) and the bureau's filing calendar.

The holiday data comes from the maintained `chinese_calendar` package, which covers the years the State
Council has announced. A year it does not cover is refused (`NoHolidayData`), never guessed at: counting
2027-01-01 as a working day would send notices on New Year's Day and put filing deadlines on the wrong day.

The bureau publishes its filing calendar every year; a calendar file (TOML) carries it, and may also give
the days off of a year the package does not cover yet::

    # one table per year
    [2027]
    holidays = ["2027-01-01", "2027-02-06", "2027-02-07"]  # statutory days off besides weekends
    workdays = ["2027-02-14"]                              # make-up working days (weekends worked)
    "VAT:2027-01" = "2027-02-22"                           # the deadline of one tax and period
    "*:2027-02" = "2027-03-15"                             # the deadline of every tax of that period

A year's days off come from the file when it has a `holidays` list for it, else from the package. Dates are
TOML dates or "YYYY-MM-DD" strings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import chinese_calendar

from taxsms.errors import ConfigError, InvalidInput

ANY_TAX = "*"


class NoHolidayData(InvalidInput):
    """A day of a year for which neither chinese_calendar nor the calendar file has holiday data."""


class CalendarFileError(ConfigError):
    """A calendar file that cannot be read; names the file and the entry."""


def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@dataclass(frozen=True, slots=True, eq=False)
class Calendar:
    """Days off for any covered year, plus the published deadlines ('TAX:PERIOD' or '*:PERIOD' -> date)."""

    holidays: Mapping[int, frozenset[date]] = field(default_factory=dict)  # years the file covers
    workdays: frozenset[date] = frozenset()
    deadlines: Mapping[str, date] = field(default_factory=dict)
    source: str = "chinese_calendar"

    @classmethod
    def load(cls, path: str | Path) -> Calendar:
        """Parse a calendar file (format above); CalendarFileError names what is wrong."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CalendarFileError(f"calendar file {path}: {exc}") from None
        return cls.parse(data, source=str(path))

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, source: str = "calendar file") -> Calendar:
        holidays: dict[int, frozenset[date]] = {}
        workdays: set[date] = set()
        deadlines: dict[str, date] = {}
        for year_text, table in data.items():
            if not year_text.isdigit() or not isinstance(table, dict):
                raise CalendarFileError(f"{source}: expected a [YYYY] table, got {year_text!r}")
            year = int(year_text)
            for name, value in table.items():
                where = f"{source}: [{year}] {name}"
                if name == "holidays":
                    holidays[year] = frozenset(_dates(value, year, where))
                elif name == "workdays":
                    workdays.update(_dates(value, year, where))
                elif ":" in name:
                    deadlines[name] = _date(value, where)
                else:
                    raise CalendarFileError(f"{where}: expected holidays, workdays or 'TAX:PERIOD' = date")
        return cls(holidays, frozenset(workdays), deadlines, source)

    def covers(self, year: int) -> bool:
        """Whether the days off of `year` are known (from the file or the package)."""
        return year in self.holidays or _package_covers(year)

    def is_day_off(self, day: date) -> bool:
        """Weekend or statutory holiday; make-up working days are working days. NoHolidayData past the data."""
        if day.year in self.holidays:
            if day in self.workdays:
                return False
            return day in self.holidays[day.year] or day.weekday() >= 5
        try:
            return not chinese_calendar.is_workday(day)
        except NotImplementedError:
            raise NoHolidayData(
                f"no holiday data for {day.year}: chinese_calendar covers only the years the State Council "
                f"has announced; upgrade it or give a calendar file with a [{day.year}] holidays list "
                f"(see taxsms.holidays)"
            ) from None

    def deadline(self, tax: str, period: str) -> date | None:
        """The published deadline of `tax` for `period`, if the file gives one."""
        return self.deadlines.get(f"{tax}:{period}") or self.deadlines.get(f"{ANY_TAX}:{period}")


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarFileError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _dates(values: Any, year: int, where: str) -> list[date]:
    if not isinstance(values, list):
        raise CalendarFileError(f"{where}: expected a list of dates")
    days = [_date(value, where) for value in values]
    wrong = [day for day in days if day.year != year]
    if wrong:
        raise CalendarFileError(f"{where}: {wrong[0]} is not in {year}")
    return days


#: The calendar of the package alone (no file): what send windows and deadlines use unless given a file.
PACKAGE = Calendar()
