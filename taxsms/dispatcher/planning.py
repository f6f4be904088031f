"""Campaign planning: when will the last message go out, given the link's TPS and the send windows?

A pure simulation of what the dispatcher does: jobs become available at their release time (not_before,
inside their window), the most urgent lane goes first, each message takes segments / TPS seconds of the
link, and a window that closes stops its kind until the next opening. Jobs that would go out after their
`expires_at` are reported: e.g. reminders that cannot all be sent before the filing deadline. With `due`,
jobs whose last segment would leave after that moment are counted too (`overdue`: e.g. reminders that must reach
taxpayers some working days before the deadline); `group` gives a timeline per group (e.g. per unit).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from taxsms.channels.smpp import segment_info
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.queue.jobs import Job

LATE_EXAMPLES = 10


@dataclass(slots=True)
class KindPlan:
    jobs: int = 0
    segments: int = 0
    first: float = 0.0
    last: float = 0.0
    late: int = 0


@dataclass(slots=True)
class Plan:
    """The predicted timeline of a set of jobs on one link."""

    start: float
    tps: float
    jobs: int = 0
    segments: int = 0  # of the jobs that go out in time
    last_send: float = 0.0
    late: int = 0  # jobs whose turn comes after their expires_at: the dispatcher marks them expired, unsent
    late_examples: list[str] = field(default_factory=list)
    kinds: dict[str, KindPlan] = field(default_factory=dict)
    overdue: int = 0  # jobs not wholly sent by `due`
    groups: dict[str, KindPlan] = field(default_factory=dict)

    @property
    def busy_seconds(self) -> float:
        """Link time the segments need, windows aside."""
        return self.segments / self.tps


def plan(
    jobs: Iterable[Job],
    *,
    tps: float,
    windows: WindowPolicy,
    start: float,
    due: float | None = None,
    group: Callable[[Job], str] | None = None,
) -> Plan:
    """Simulate sending `jobs` from `start` at `tps` segments per second under `windows`."""
    if tps <= 0:
        raise ValueError("tps must be positive")
    result = Plan(start=start, tps=tps)
    waiting: list[tuple[float, int, int, Job, int]] = []  # (release, lane, order, job, segments)
    for order, job in enumerate(jobs):
        segments = segment_info(job.text).segments if job.text else 1
        heapq.heappush(waiting, (windows.release_time(job, start), int(job.lane), order, job, segments))
    ready: list[tuple[int, int, float, Job, int]] = []  # (lane, order, release, job, segments)
    now = start
    while waiting or ready:
        while waiting and waiting[0][0] <= now:
            release, lane, order, job, segments = heapq.heappop(waiting)
            heapq.heappush(ready, (lane, order, release, job, segments))
        if not ready:
            now = waiting[0][0]
            continue
        lane, order, _, job, segments = heapq.heappop(ready)
        opening = windows.release_time(job, now)
        if opening > now:  # its window closed while it waited: back to the waiting set
            heapq.heappush(waiting, (opening, lane, order, job, segments))
            continue
        kind = result.kinds.setdefault(job.kind.value, KindPlan(first=now))
        tallies = [kind] if group is None else [kind, result.groups.setdefault(group(job), KindPlan(first=now))]
        result.jobs += 1
        for tally in tallies:
            tally.jobs += 1
        if job.expires_ts and now >= job.expires_ts:  # the dispatcher marks it expired: no link time used
            result.late += 1
            for tally in tallies:
                tally.late += 1
            if len(result.late_examples) < LATE_EXAMPLES:
                result.late_examples.append(job.id)
            continue
        if due is not None and now + segments / tps > due:  # its last segment leaves after `due`
            result.overdue += 1
        result.segments += segments
        for tally in tallies:
            tally.segments += segments
            tally.last = now
        result.last_send = now
        now += segments / tps
    return result
