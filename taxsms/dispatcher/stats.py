"""What one worker process did (its own share; Redis holds the totals), for its metrics and the benches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

LATENCY_SAMPLES = 200_000


@dataclass(slots=True)
class WorkerStats:
    """Counters of one worker process."""

    read: int = 0
    submitted: int = 0
    failed: int = 0
    retried: int = 0
    delayed: int = 0
    expired: int = 0
    dead_lettered: int = 0
    skipped: int = 0  # already handled by an earlier attempt, or suppressed by the rules
    segments: int = 0
    reclaimed: int = 0  # taken over from dead consumers, or handed back by workers with no bind up
    handed_back: int = 0  # claimed, then given back to the other workers: no bind of this one was up
    released: int = 0
    redis_errors: int = 0  # failed Redis calls, each retried
    unconfirmed: int = 0  # submitted jobs this worker ended for want of a receipt
    # Where the send loop waited (seconds): for a claimed job to send (idle, or reading and admission behind
    # the link), for a slot (the SMSC's answers and the outcome writes behind it), for the shared rate limit.
    waited_for_job_s: float = 0.0
    waited_for_slot_s: float = 0.0
    waited_for_rate_s: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, first part sent -> last part answered
    observe_latency: Callable[[float], None] | None = None  # the metrics exporter's histogram, when it runs

    def record_latency(self, seconds: float) -> None:
        if len(self.latencies) < LATENCY_SAMPLES:
            self.latencies.append(seconds)
        if self.observe_latency is not None:
            self.observe_latency(seconds)
