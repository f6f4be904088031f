"""The worker's Prometheus /metrics (`taxsms worker --metrics-port`): binds, submits, latency, window, Redis.

Everything but the latency histogram is read from the worker's own counters when Prometheus scrapes, so the
send path pays nothing for it; the histogram is fed once per job (an in-process observe, no I/O). Counters
are this process's share: sum them over the workers for the link's totals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from taxsms.dispatcher.worker import Worker

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: SessionStats counters exposed as taxsms_smpp_<name>_total.
SESSION_COUNTERS = {
    "throttled": "throttling answers (ESME_RTHROTTLED, ESME_RMSGQFUL), each retried after a back-off",
    "resent_after_loss": "submits resent after a lost link (the only possible duplicates)",
    "timeouts": "submits that got no response in time",
    "connects": "successful binds",
    "protocol_errors": "malformed or unexpected PDUs from the SMSC",
    "deliver_sm": "deliver_sm received (receipts and MO)",
    "bind_refusals": "binds the SMSC refused (credentials: retried after minutes)",
    "mo_parts_dropped": "parts of concatenated MO given up (never completed in 300 s, or over the caps)",
}

#: WorkerStats counters exposed as taxsms_worker_jobs_total{outcome=...}.
JOB_OUTCOMES = (
    "read", "submitted", "failed", "retried", "delayed", "expired", "dead_lettered", "skipped", "reclaimed",
    "handed_back",
)  # fmt: skip


class _WorkerCollector(Collector):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        worker, cfg = self.worker, self.worker.config
        link = cfg.link_name
        pool = worker.pool
        session = pool.stats() if pool is not None else None

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["link"])
            family.add_metric([link], value)
            return family

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=["link"])
            family.add_metric([link], value)
            return family

        yield gauge("taxsms_smpp_binds_up", "SMPP binds currently bound", pool.bound if pool else 0)
        yield gauge("taxsms_smpp_binds", "SMPP binds configured", cfg.binds)
        yield gauge("taxsms_smpp_window_in_flight", "submit_sm awaiting their response", pool.in_flight if pool else 0)
        yield gauge("taxsms_smpp_window_size", "outstanding submit_sm allowed over all binds", cfg.window * cfg.binds)
        yield gauge("taxsms_smpp_backlog", "submit_sm queued for a free window slot", pool.backlog if pool else 0)
        yield gauge("taxsms_rate_limit_tps", "the link's shared segments/s limit (0: none)", cfg.tps)
        submits = CounterMetricFamily("taxsms_smpp_submits", "submit_sm answered", labels=["link", "outcome"])
        submits.add_metric([link, "accepted"], _of(session, "accepted"))
        submits.add_metric([link, "rejected"], _of(session, "rejected"))
        yield submits
        for name, doc in SESSION_COUNTERS.items():
            yield counter(f"taxsms_smpp_{name}", doc, _of(session, name))
        yield counter("taxsms_segments_sent", "segments accepted by the SMSC", worker.stats.segments)
        yield counter("taxsms_worker_redis_errors", "failed Redis calls (each retried)", worker.stats.redis_errors)
        stats = worker.stats
        waited = CounterMetricFamily(
            "taxsms_sender_wait_seconds",
            "time the send loop waited: for a claimed job (idle, or reading behind the link), for a slot (the "
            "SMSC's answers and outcome writes), for the rate limit",
            labels=["link", "waiting_for"],
        )
        waited.add_metric([link, "job"], stats.waited_for_job_s)
        waited.add_metric([link, "slot"], stats.waited_for_slot_s)
        waited.add_metric([link, "rate"], stats.waited_for_rate_s)
        yield waited
        waits = worker.limiter.waits if worker.limiter is not None else 0
        yield counter("taxsms_rate_limit_waits", "times a send waited for the shared rate limit", waits)
        jobs = CounterMetricFamily("taxsms_worker_jobs", "jobs handled by this worker", labels=["link", "outcome"])
        for outcome in JOB_OUTCOMES:
            jobs.add_metric([link, outcome], getattr(worker.stats, outcome))
        yield jobs
        yield gauge("taxsms_worker_buffered", "claimed jobs waiting for a window slot", len(worker._buffer))


def _of(stats: object, name: str) -> int:
    return getattr(stats, name) if stats is not None else 0


class WorkerMetrics:
    """The registry of one worker: the collector above plus the submit latency histogram."""

    def __init__(self, worker: Worker) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "taxsms_submit_latency_seconds",
            "first part written -> last part answered, per job",
            ["link"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        ).labels(worker.config.link_name)
        self.registry.register(_WorkerCollector(worker))
        worker.stats.observe_latency = self.latency.observe

    def render(self) -> bytes:
        return generate_latest(self.registry)


async def serve_metrics(worker: Worker, host: str, port: int) -> web.AppRunner:
    """Start serving GET /metrics for `worker` on host:port; the caller cleans the runner up."""
    metrics = WorkerMetrics(worker)

    async def scrape(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("worker metrics on http://%s:%d/metrics", host, port)
    return runner
