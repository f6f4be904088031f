"""The governance books a request works with: the unit tree (read from Redis per request, so a `units load`
is seen at once), the operator book (argon2), campaigns, the audit log and accounting."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from taxsms.api.state import AUDIT, HASHER, KEYS, REDIS, STORE
from taxsms.governance.accounting import Accounting
from taxsms.governance.audit import AuditLog
from taxsms.governance.campaigns import CampaignBook
from taxsms.governance.operators import OperatorBook
from taxsms.governance.units import UnitTree, load_units


@dataclass(frozen=True, slots=True)
class Books:
    tree: UnitTree
    audit: AuditLog
    operators: OperatorBook
    campaigns: CampaignBook
    accounting: Accounting


async def books(request: web.Request) -> Books:
    """The books on the app's Redis, with the unit tree as stored now."""
    redis, keys = request.app[REDIS], request.app[KEYS]
    tree = await load_units(redis, keys)
    audit = request.app[AUDIT]
    operators = OperatorBook(redis, keys, tree, hasher=request.app[HASHER], audit=audit)
    campaigns = CampaignBook(redis, keys, tree, operators, audit=audit, store=request.app[STORE])
    return Books(tree, audit, operators, campaigns, Accounting(redis, keys, tree))
