"""/v1/usage: segments sent per unit and kind in one month (the province pays for everything sent)."""

from __future__ import annotations

import re
from datetime import datetime

from aiohttp import web

from taxsms.api.auth import ANY_UNIT, request_token
from taxsms.api.errors import ApiError, json_response
from taxsms.api.routes import Param, Route, RouteTable, json_reply
from taxsms.api.state import KEYS, REDIS
from taxsms.queue.jobs import CHINA
from taxsms.queue.store import sum_hashes

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


async def read_usage(redis, keys, month: str) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    """unit -> kind -> segments, from the hashes keys.usage(month) ('<unit>|<kind>' -> segments) of every shard."""
    units: dict[str, dict[str, int]] = {}
    for name, value in (await sum_hashes(redis, keys, lambda shard: shard.usage(month))).items():
        unit, _, kind = name.rpartition("|")
        units.setdefault(unit, {})[kind] = value
    return units


async def get_usage(request: web.Request) -> web.Response:
    """Segments per unit and kind in `month` (default: this month, China time), for the token's units."""
    token = request_token(request)
    month = request.query.get("month", f"{datetime.now(CHINA):%Y-%m}")
    if not MONTH.match(month):
        raise ApiError(400, "bad_request", f"month must be YYYY-MM, not {month!r}")
    units = await read_usage(request.app[REDIS], request.app[KEYS], month)
    if ANY_UNIT not in token.recipient_units:
        visible = {token.unit, *token.recipient_units}
        units = {unit: kinds for unit, kinds in units.items() if unit in visible}
    total = sum(sum(kinds.values()) for kinds in units.values())
    return json_response({"month": month, "units": units, "total": total})


USAGE_SCHEMA = {
    "type": "object",
    "required": ["month", "units", "total"],
    "properties": {
        "month": {"type": "string"},
        "units": {
            "type": "object",
            "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "total": {"type": "integer"},
    },
}


def register_usage_routes(table: RouteTable) -> None:
    table.add(
        Route(
            "GET",
            "/v1/usage",
            get_usage,
            "Segments sent per unit and kind in a month (the token's own and recipient units)",
            "usage",
            auth="token",
            params=(Param("month", "query", {"type": "string", "pattern": MONTH.pattern}, "YYYY-MM (China time)"),),
            responses={200: json_reply("Usage", USAGE_SCHEMA)},
        )
    )
