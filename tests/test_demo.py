"""The demo's code path, small: the same pipeline `taxsms demo` runs, on the test session's Redis."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from taxsms.demo import MO_CONVERSATIONS, print_summary, run_demo


async def test_demo_runs_end_to_end_and_prints_its_summary(redis_url: str) -> None:
    out = StringIO()
    console = Console(file=out, width=160)
    result = await run_demo(jobs=300, redis_url=redis_url, dlr_ms=20, console=console, receipt_timeout=20)
    counts = result.counts
    assert counts["dead_lettered"] == 20
    assert counts["queued"] == counts["submitting"] == counts["submitted"] == counts["delayed"] == 0
    assert counts["delivered"] + counts["undelivered"] + counts["suppressed"] == 300 + len(MO_CONVERSATIONS)
    assert result.simulator["duplicates"] == 0
    assert all(answer.startswith("【省税务局】") for _, _, answer in result.conversations)  # the registry's
    print_summary(result, console)
    text = out.getvalue()
    assert "taxsms demo summary" in text and "Web console" in text and "信息相符" in text
