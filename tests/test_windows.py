"""Send windows: pure time arithmetic in China time."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from taxsms.dispatcher.heartbeat import window_states
from taxsms.dispatcher.windows import SendWindow, WindowPolicy
from taxsms.holidays import Calendar, NoHolidayData
from taxsms.queue.jobs import CHINA, Job, Kind


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA).timestamp()


def job(kind: Kind = Kind.NOTICE, **extra: object) -> Job:
    return Job(id="j", kind=kind, to="13800138000", text="x", **extra)  # type: ignore[arg-type]


WINDOW = SendWindow.parse("08:00-18:00")


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        ("2026-11-23 07:59:59.999", False),
        ("2026-11-23 08:00:00", True),
        ("2026-11-23 12:00:00", True),
        ("2026-11-23 17:59:59.900", True),
        ("2026-11-23 18:00:00", False),
        ("2026-11-23 23:30:00", False),
    ],
)
def test_window_edges(moment: str, open_: bool) -> None:
    assert WINDOW.is_open(at(moment)) is open_


def test_next_opening() -> None:
    assert WINDOW.next_opening(at("2026-11-23 03:00:00")) == at("2026-11-23 08:00:00")
    assert WINDOW.next_opening(at("2026-11-23 18:00:00")) == at("2026-11-24 08:00:00")
    assert WINDOW.next_opening(at("2026-11-23 17:59:59.900")) == at("2026-11-23 17:59:59.900")
    assert WINDOW.closes_at(at("2026-11-23 09:00:00")) == at("2026-11-23 18:00:00")


def test_window_is_china_time_whatever_the_host_zone() -> None:
    utc_0100 = datetime.fromisoformat("2026-11-23T01:00:00+00:00").timestamp()  # 09:00 in Shanghai
    assert WINDOW.is_open(utc_0100)


def test_days_off_follow_the_holiday_calendar_with_make_up_days() -> None:
    window = SendWindow.parse("08:00-18:00", days_off=True)
    assert not window.is_open(at("2026-10-01 10:00:00"))  # National Day
    assert window.next_opening(at("2026-10-01 10:00:00")) == at("2026-10-08 08:00:00")
    assert window.is_open(at("2026-10-10 10:00:00"))  # a Saturday, but a make-up working day
    assert not window.is_open(at("2026-10-11 10:00:00"))  # an ordinary Sunday


def test_days_off_in_a_year_without_holiday_data_are_refused() -> None:
    window = SendWindow.parse("08:00-18:00", days_off=True)
    with pytest.raises(NoHolidayData, match="no holiday data for 2030"):
        window.next_opening(at("2030-01-05 10:00:00"))
    assert "2030" in (WindowPolicy.build(days_off=True).calendar_warning(at("2030-01-05 10:00:00")) or "")
    assert WindowPolicy.build(days_off=False).calendar_warning(at("2030-01-05 10:00:00")) is None  # none needed
    december = WindowPolicy.build(days_off=True)
    assert "2027" in (december.calendar_warning(at("2026-12-08 10:00:00")) or "")  # data ends in 3 weeks
    assert december.calendar_warning(at("2026-06-01 10:00:00")) is None


def test_a_calendar_file_gives_the_days_off_of_an_uncovered_year() -> None:
    calendar = Calendar.parse({"2030": {"holidays": ["2030-01-01"], "workdays": ["2030-01-05"]}})
    policy = WindowPolicy.build(days_off=True, calendar=calendar)
    assert policy.calendar_warning(at("2030-01-01 10:00:00")) is None  # the file covers 2030
    window = policy.window(Kind.NOTICE)
    assert window is not None
    assert window.next_opening(at("2030-01-01 10:00:00")) == at("2030-01-02 08:00:00")  # New Year's Day off
    assert window.is_open(at("2030-01-05 10:00:00"))  # a Saturday worked (make-up working day)
    assert not window.is_open(at("2030-01-06 10:00:00"))  # an ordinary Sunday


def test_policy_replies_go_any_time_staff_kinds_wait() -> None:
    policy = WindowPolicy.build()
    night = at("2026-11-23 23:00:00")
    assert policy.may_send(job(Kind.REPLY), night)
    for kind in Kind:
        if kind is not Kind.REPLY:
            assert policy.release_time(job(kind), night) == at("2026-11-24 08:00:00")


def test_not_before_and_window_combine() -> None:
    policy = WindowPolicy.build()
    later = job(not_before=datetime.fromisoformat("2026-11-23T17:30:00+08:00"))
    assert policy.release_time(later, at("2026-11-23 09:00:00")) == at("2026-11-23 17:30:00")
    night = job(not_before=datetime.fromisoformat("2026-11-23T20:00:00"))  # naive: China time
    assert policy.release_time(night, at("2026-11-23 09:00:00")) == at("2026-11-24 08:00:00")


def test_overrides_and_errors() -> None:
    policy = WindowPolicy.build(overrides="internal=07:30-20:00, notice=always")
    assert policy.may_send(job(Kind.INTERNAL), at("2026-11-23 19:00:00"))
    assert policy.may_send(job(Kind.NOTICE), at("2026-11-23 03:00:00"))
    assert SendWindow.parse("00:00-24:00").is_open(at("2026-11-23 23:59:59"))
    with pytest.raises(ValueError, match="unknown kind 'lottery'"):
        WindowPolicy.build(overrides="lottery=08:00-09:00")
    with pytest.raises(ValueError, match="start must be before end"):
        SendWindow.parse("18:00-08:00")
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        SendWindow.parse("eight to six")


def test_a_staff_answer_keeps_to_the_staff_window_an_automatic_reply_does_not() -> None:
    """Issue 12 item 5: a reply written by an operator (a ticket answer, e.g. at 06:31 China time) waits for
    08:00; only automatic replies (no operator) go at any hour."""
    policy = WindowPolicy.build()
    early = at("2026-11-24 06:31:00")
    assert policy.may_send(job(Kind.REPLY, principal="service:12366"), early)
    answer = job(Kind.REPLY, operator="op-12366-01", principal="operator:op-12366-01")
    assert not policy.may_send(answer, early)
    assert policy.release_time(answer, early) == at("2026-11-24 08:00:00")


@pytest.mark.parametrize("days_off", [False, True])
def test_is_open_remembering_the_last_opening_answers_as_a_fresh_window_does(days_off: bool) -> None:
    """is_open keeps the last opening it saw; any sequence of moments (clocks jump in tests) gets the answers
    of a window that remembers nothing."""
    rng = random.Random(7)
    start = datetime(2026, 9, 28, tzinfo=CHINA).timestamp()  # National Day week and its make-up working days
    window = SendWindow.parse("08:00-18:00", days_off=days_off)
    edges = [start + day * 86400 + hour * 3600 + delta for day in range(14) for hour in (8, 18) for delta in (-1e-3, 0)]
    moments = edges + [start + rng.uniform(0, 14 * 86400) for _ in range(2000)]
    rng.shuffle(moments)
    moments += sorted(moments)
    for ts in moments:
        fresh = SendWindow.parse("08:00-18:00", days_off=days_off)
        assert window.is_open(ts) == fresh.is_open(ts), datetime.fromtimestamp(ts, CHINA)
        assert window.next_opening(ts) == fresh.next_opening(ts)


def test_reports_of_the_windows_do_not_fail_where_the_holiday_data_ends() -> None:
    """The heartbeat (every 5 s) and the console's snapshot read the windows: on New Year's Eve after 18:00
    with no data for the next year, the next opening is unknown (0), not an error that stops the worker."""
    policy = WindowPolicy.build(days_off=True)
    states = window_states(policy, at("2026-12-31 19:00:00"))
    assert states["notice"] == {"open": False, "next": 0} and states["reply"] == {"open": True, "next": 0}
    assert window_states(policy, at("2026-12-31 10:00:00"))["notice"] == {"open": True, "next": 0}
    window = policy.window(Kind.NOTICE)
    assert window is not None
    assert window.status(at("2026-12-30 19:00:00")) == (False, at("2026-12-31 08:00:00"))
    assert window.status(at("2027-01-04 10:00:00")) == (False, 0.0)  # a day the calendar cannot tell
