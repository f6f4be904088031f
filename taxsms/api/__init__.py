"""The HTTP API, the web console and the observability endpoints (aiohttp), on the same Redis as the queue."""

from taxsms.api.app import create_app
from taxsms.api.config import ApiConfig
from taxsms.api.health import report_worker_health

__all__ = ["ApiConfig", "create_app", "report_worker_health"]
