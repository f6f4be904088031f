"""The HTTP API's settings (one object passed to create_app; taxsms.settings builds it from [serve])."""

from __future__ import annotations

from dataclasses import dataclass, field

from taxsms.dispatcher.windows import WindowPolicy


@dataclass(slots=True)
class ApiConfig:
    """Limits, security switches and the send-window settings the dashboard and /metrics report."""

    client_max_size: int = 16 * 1024 * 1024  # bytes of one request body (a 10,000-job array is ~2-3 MB)
    bulk_max: int = 10_000  # jobs in one JSON array
    ndjson_max: int = 1_000_000  # jobs in one NDJSON stream
    ndjson_line_max: int = 64 * 1024  # bytes of one NDJSON line
    chunk: int = 2_000  # jobs enqueued per Redis round trip
    rate_limit: int = 50  # requests per second per API token (0: no limit)
    session_idle_s: int = 30 * 60  # a console session ends after this long without a request
    session_max_s: int = 12 * 3600  # and after this long in all
    plain_http: bool = False  # served over plain HTTP for local use: the session cookie lacks Secure
    worker_fresh_s: float = 15.0  # a worker heartbeat older than this does not make /readyz ready
    windows: WindowPolicy = field(default_factory=WindowPolicy.build)  # the settings' send windows
