"""Send windows: when a job of each kind may go out (pure time arithmetic, China time, injectable clock).

The regulation lets staff-published messages reach taxpayers only from 08:00 to 18:00 (Asia/Shanghai);
replies to taxpayer-initiated messages go out at any hour. Optionally, days off (weekends and public
holidays, with China's make-up working days: taxsms.holidays) are skipped; a year without holiday data is
refused (NoHolidayData) rather than guessed at: the jobs that need it wait (dispatcher.admission).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from taxsms import commalist
from taxsms.holidays import PACKAGE, Calendar, NoHolidayData
from taxsms.queue.jobs import CHINA, Job, Kind

DEFAULT_HOURS = "08:00-18:00"
_MAX_DAYS_AHEAD = 60  # a window that never opens within this many days is a configuration error


@dataclass(frozen=True, slots=True)
class SendWindow:
    """A daily window [start, end) in China time; `days_off` skips weekends and public holidays."""

    start: time = time(8, 0)
    end: time = time(18, 0)
    days_off: bool = False
    calendar: Calendar = PACKAGE
    # [opens, closes) of the last opening is_open saw: a moment inside it is open without a calendar look
    # (twice per job on the hot path: ~2 us each otherwise)
    _seen_open: list[float] = field(default_factory=lambda: [0.0, 0.0], init=False, compare=False, repr=False)

    @classmethod
    def parse(cls, spec: str, *, days_off: bool = False, calendar: Calendar = PACKAGE) -> SendWindow:
        """'08:00-18:00' -> SendWindow ('00:00-24:00' is the whole day); raises ValueError naming the problem."""
        try:
            first, second = (part.strip() for part in spec.split("-"))
            start = time.fromisoformat(first)
            end = time.max if second == "24:00" else time.fromisoformat(second)
        except ValueError:
            raise ValueError(f"send window {spec!r}: expected HH:MM-HH:MM") from None
        if start >= end:
            raise ValueError(f"send window {spec!r}: start must be before end (same day)")
        return cls(start, end, days_off, calendar)

    def _day_ok(self, day: date) -> bool:
        return not (self.days_off and self.calendar.is_day_off(day))

    def is_open(self, ts: float) -> bool:
        seen = self._seen_open
        if seen[0] <= ts < seen[1]:
            return True
        moment = datetime.fromtimestamp(ts, CHINA)
        if not (self.start <= moment.time() < self.end and self._day_ok(moment.date())):
            return False
        day = moment.date()
        seen[:] = datetime.combine(day, self.start, CHINA).timestamp(), self._end_of(day)
        return True

    def status(self, ts: float) -> tuple[bool, float]:
        """(open at `ts`, when it next opens: 0 when open, or unknown for a year without holiday data): for
        reports, which must not fail where sending waits (dispatcher.admission)."""
        try:
            return (True, 0.0) if self.is_open(ts) else (False, self.next_opening(ts))
        except NoHolidayData:
            return False, 0.0

    def next_opening(self, ts: float) -> float:
        """`ts` itself if the window is open then, else the next moment it opens."""
        moment = datetime.fromtimestamp(ts, CHINA)
        if self.is_open(ts):
            return ts
        day = moment.date()
        if moment.time() >= self.end:
            day += timedelta(days=1)
        for _ in range(_MAX_DAYS_AHEAD):
            if self._day_ok(day):
                opening = datetime.combine(day, self.start, CHINA).timestamp()
                if opening >= ts:
                    return opening
            day += timedelta(days=1)
        raise ValueError(f"send window {self} does not open within {_MAX_DAYS_AHEAD} days of {moment}")

    def closes_at(self, ts: float) -> float:
        """When the window open at `ts` closes (ts must be inside the window)."""
        return self._end_of(datetime.fromtimestamp(ts, CHINA).date())

    def _end_of(self, day: date) -> float:
        return datetime.combine(day, self.end, CHINA).timestamp()

    def __str__(self) -> str:
        days = ", days off skipped" if self.days_off else ""
        end = "24:00" if self.end == time.max else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}{days}"


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """The window of each kind; a kind mapped to None (replies by default) may be sent at any time.

    `staff`: the window of what staff write, which a reply signed by an operator (an answer to a ticket) keeps
    to as well: only automatic replies go out at any hour (Art. 8)."""

    windows: dict[Kind, SendWindow | None] = field(default_factory=dict)
    staff: SendWindow | None = None

    @classmethod
    def build(
        cls, hours: str = DEFAULT_HOURS, *, days_off: bool = False, overrides: str = "", calendar: Calendar = PACKAGE
    ) -> WindowPolicy:
        """Every staff-published kind gets `hours`, replies none; `overrides` like 'internal=07:00-22:00,...'.

        An override of 'always' removes a kind's window (use with care: the regulation forbids it for
        messages staff publish to taxpayers). Days off come from `calendar`.
        """
        default = SendWindow.parse(hours, days_off=days_off, calendar=calendar)
        windows: dict[Kind, SendWindow | None] = {kind: default for kind in Kind}
        windows[Kind.REPLY] = None
        try:
            pairs = commalist.items(overrides)
        except ValueError as exc:
            raise ValueError(f"send window override {exc}") from None
        for name, spec in pairs:
            try:
                kind = Kind(name)
            except ValueError:
                raise ValueError(f"send window override {name}={spec}: unknown kind {name!r}") from None
            always = spec == "always"
            windows[kind] = None if always else SendWindow.parse(spec, days_off=days_off, calendar=calendar)
        return cls(windows, default)

    def _uncovered(self, first: date, last: date) -> list[tuple[int, Calendar]]:
        years = range(first.year, last.year + 1)
        calendars = {w.calendar for w in self.windows.values() if w is not None and w.days_off}
        return [(year, calendar) for calendar in calendars for year in years if not calendar.covers(year)]

    def calendar_warning(self, now: float, days: int = _MAX_DAYS_AHEAD) -> str | None:
        """A warning when holiday data runs out within `days` of `now` (or already has), else None: from then
        on the jobs whose window skips days off wait (dispatcher.admission), replies still go."""
        today = datetime.fromtimestamp(now, CHINA).date()
        missing = self._uncovered(today, today + timedelta(days=days))
        if not missing:
            return None
        year, calendar = missing[0]
        return (
            f"no holiday data for {year} ({calendar.source}): from {year}-01-01 the jobs whose send window skips "
            "days off wait, replies still go; give a calendar file covering it (see taxsms.holidays)"
        )

    def window(self, kind: Kind) -> SendWindow | None:
        return self.windows.get(kind)

    def window_text(self) -> str:
        """'08:00-18:00 (reply: any time)': each distinct window with the kinds it applies to."""
        groups: dict[str, list[str]] = {}
        for kind, window in self.windows.items():
            groups.setdefault(str(window) if window else "any time", []).append(kind.value)
        if len(groups) <= 2 and groups.get("any time") == [Kind.REPLY.value]:
            staff = next(text for text in groups if text != "any time")
            return f"{staff} (reply: any time)"
        return "; ".join(f"{text} ({', '.join(kinds)})" for text, kinds in groups.items())

    def release_time(self, job: Job, now: float) -> float:
        """The earliest moment `job` may be submitted: after not_before and inside its window (now if both hold)."""
        earliest = max(now, job.not_before_ts)
        window = self.windows.get(job.kind)
        if window is None and job.kind is Kind.REPLY and job.operator:
            window = self.staff  # a staff answer: written by a person, so inside the staff window
        return earliest if window is None else window.next_opening(earliest)

    def may_send(self, job: Job, now: float) -> bool:
        return self.release_time(job, now) <= now
