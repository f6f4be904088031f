"""Prometheus /metrics: queue depth per lane, jobs by state, send windows, API request latency.

Redis is read once per scrape (take_snapshot), then the collector turns that snapshot into metric families.
Final states only ever grow, so they (and 'sent') are exposed as counters: rate() gives sent/delivered/s.
When Redis cannot be read the scrape still answers 200, with `taxsms_redis_up 0` and the API's own metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from taxsms.api.errors import Handler
from taxsms.api.routes import Reply, Route, RouteTable
from taxsms.api.snapshot import Snapshot, take_snapshot
from taxsms.api.state import KEYS, METRICS, REDIS, WINDOWS
from taxsms.queue.connect import RETRYABLE
from taxsms.queue.jobs import FINAL_STATES

log = logging.getLogger(__name__)


class _SnapshotCollector(Collector):
    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        up = GaugeMetricFamily("taxsms_redis_up", "1 if this scrape could read Redis")
        up.add_metric([], int(snap is not None))
        yield up
        if snap is None:
            return
        depth = GaugeMetricFamily("taxsms_queue_depth", "Jobs waiting in a lane (unread + pending)", labels=["lane"])
        pending = GaugeMetricFamily("taxsms_queue_pending", "Jobs read by a worker, not yet acked", labels=["lane"])
        delayed = GaugeMetricFamily("taxsms_queue_delayed", "Jobs waiting for a window or retry", labels=["lane"])
        for lane in snap.lanes:
            depth.add_metric([str(lane.lane)], lane.depth)
            pending.add_metric([str(lane.lane)], lane.pending)
            delayed.add_metric([str(lane.lane)], lane.delayed)
        jobs = GaugeMetricFamily("taxsms_jobs", "Jobs currently in each state", labels=["state"])
        final = CounterMetricFamily("taxsms_jobs_final", "Jobs that reached a final state", labels=["state"])
        for state, count in snap.counts.items():
            jobs.add_metric([state], count)
            if state in FINAL_STATES:
                final.add_metric([state], count)
        sent = CounterMetricFamily("taxsms_jobs_sent", "Jobs accepted by the SMSC (submitted or with a receipt)")
        sent.add_metric([], snap.sent)
        stats = CounterMetricFamily("taxsms_dispatch_events", "Dispatcher counters (segments...)", labels=["name"])
        for name, value in snap.stats.items():
            stats.add_metric([name], value)
        window = GaugeMetricFamily(
            "taxsms_send_window_open", "1 if the kind's send window is open now", labels=["kind"]
        )
        for kind, is_open in snap.windows.items():
            window.add_metric([kind], int(is_open))
        stored = GaugeMetricFamily(
            "taxsms_stored",
            "Entries in the bounded stores (dead letters, orphan receipts, awaiting receipt)",
            labels=["what"],
        )
        for what, count in snap.stored.items():
            stored.add_metric([what], count)
        yield from (depth, pending, delayed, jobs, final, sent, stats, window, stored)


class ApiMetrics:
    """One registry per app (tests run many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "taxsms_api_request_seconds",
            "API request latency",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.collector = _SnapshotCollector()
        self.registry.register(self.collector)

    def render(self, snapshot: Snapshot | None) -> bytes:
        self.collector.snapshot = snapshot  # no await between this and the rendering: scrapes cannot interleave
        return generate_latest(self.registry)


@web.middleware
async def latency_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request, labelled with its route template (never the raw path: ids stay out of labels)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[METRICS].latency.labels(request.method, route, str(status)).observe(time.perf_counter() - started)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    try:
        snapshot: Snapshot | None = await take_snapshot(request.app[REDIS], request.app[KEYS], request.app[WINDOWS])
    except RETRYABLE as exc:
        log.warning("/metrics: Redis unavailable (%s); answering taxsms_redis_up 0", exc)
        snapshot = None
    body = request.app[METRICS].render(snapshot)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def register_metrics_routes(table: RouteTable) -> None:
    table.add(
        Route(
            "GET",
            "/metrics",
            metrics,
            "Prometheus metrics",
            "observability",
            responses={200: Reply("Prometheus text format", {"text/plain": {"type": "string"}})},
        )
    )
