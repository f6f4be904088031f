"""EXTENSION POINTS: one route-registration function per feature that lives in another package.

Each function adds the feature's thin endpoints to the route table (and so to /openapi.json and the console)
and returns True, or returns False when the feature's module is not installed yet. The console asks
/console/api/features which pages to enable. To wire a feature: import its module here, add the routes
(auth="token" for upstream systems, auth="session" for operators; the guards and CSRF come with the table).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from taxsms.api.routes import RouteTable


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def register_campaign_routes(table: RouteTable) -> bool:
    """Campaigns (taxsms.governance.campaigns): create, approve, reject, status. Not wired yet."""
    if not _installed("taxsms.governance.campaigns"):
        return False
    return False  # EXTENSION POINT: add /v1/campaigns and /console/api/campaigns/{id}/approve|reject here


def register_template_routes(table: RouteTable) -> bool:
    """Templates (taxsms.templates): GET /v1/templates, POST /v1/templates/{name}/preview (api/templates.py)."""
    if not (_installed("taxsms.templates.catalog") and _installed("taxsms.templates.preview")):
        return False
    from taxsms.api import templates

    templates.register_routes(table)
    return True


def register_inbox_routes(table: RouteTable) -> bool:
    """Staff inbox (taxsms.replies.inbox): list tickets, answer one. Not wired yet."""
    if not _installed("taxsms.replies.inbox"):
        return False
    return False  # EXTENSION POINT: add /console/api/inbox and /console/api/inbox/{id}/answer here


def register_subscription_routes(table: RouteTable) -> bool:
    """Subscriptions (taxsms.replies.subscriptions): look one phone up, change it. Not wired yet."""
    if not _installed("taxsms.replies.subscriptions"):
        return False
    return False  # EXTENSION POINT: add /v1/subscriptions/{phone} (GET, PUT) here


FEATURES: dict[str, Callable[[RouteTable], bool]] = {
    "campaigns": register_campaign_routes,
    "templates": register_template_routes,
    "inbox": register_inbox_routes,
    "subscriptions": register_subscription_routes,
}


def register_features(table: RouteTable) -> dict[str, bool]:
    """Register every feature's routes; return which features are available."""
    return {name: register(table) for name, register in FEATURES.items()}
