"""Campaign planning: a pure simulation of the link's time under windows and priorities."""

from __future__ import annotations

from datetime import datetime

from taxsms.cli import main
from taxsms.dispatcher.planning import plan
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.queue.jobs import CHINA, Job, Kind


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA).timestamp()


def reminders(n: int, expires: str | None = None) -> list[Job]:
    deadline = datetime.fromisoformat(expires) if expires else None
    kind = Kind.FILING_REMINDER
    return [Job(id=f"r{i}", kind=kind, to="13800138000", text="x", expires_at=deadline) for i in range(n)]


def test_a_campaign_inside_one_window() -> None:
    result = plan(reminders(3600), tps=1, windows=WindowPolicy.build(), start=at("2026-11-15 09:00:00"))
    assert result.late == 0 and result.segments == 3600
    assert result.last_send == at("2026-11-15 09:59:59")


def test_the_window_carries_the_rest_to_the_next_morning() -> None:
    result = plan(reminders(7200), tps=1, windows=WindowPolicy.build(), start=at("2026-11-15 17:00:00"))
    assert result.last_send == at("2026-11-16 08:59:59")


def test_jobs_that_cannot_go_before_their_expiry_are_reported() -> None:
    jobs = reminders(7200, expires="2026-11-16T00:00:00")
    result = plan(jobs, tps=1, windows=WindowPolicy.build(), start=at("2026-11-15 17:00:00"))
    assert result.late == 3600 and result.late_examples[0] == "r3600"
    assert result.last_send == at("2026-11-15 17:59:59")


def test_urgent_lanes_go_first_and_long_texts_cost_more() -> None:
    jobs = [*reminders(10), Job(id="o1", kind=Kind.OVERDUE_PAYMENT, to="13800138000", text="税" * 100)]
    result = plan(jobs, tps=1, windows=WindowPolicy.build(), start=at("2026-11-15 09:00:00"))
    assert result.kinds["overdue_payment"].first == at("2026-11-15 09:00:00")
    assert result.kinds["filing_reminder"].first == at("2026-11-15 09:00:02")  # after the 2-part overdue notice
    assert result.segments == 12


def test_plan_command_warns_and_exits_2(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "\n".join(
            f'{{"id": "r{i}", "kind": "filing_reminder", "to": "13800138000", "text": "【某县税务局】请申报",'
            f' "expires_at": "2026-11-15T18:00:00"}}'
            for i in range(100)
        )
    )
    code = main(["plan", str(jobs), "--tps", "0.01", "--start", "2026-11-15T17:00:00"])
    out, err = capsys.readouterr()
    assert code == 5 and "WARNING: 64 jobs" in err and "last message out at 2026-11-15 17:58:20" in out
