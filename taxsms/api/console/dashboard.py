"""/console/api/dashboard: the platform as the workers see it (province operators), or one unit's month.

Platform figures: jobs by state, lane depth (waiting / claimed / delayed), and from the workers' heartbeats
(not this server's settings) the binds up and wanted, the submits at the SMSC, and each kind's send window
with its next opening. A heartbeat older than `worker_fresh_s` counts its worker as gone. A unit operator
sees its own unit's month instead: segments sent, its quota, its campaigns by state.
"""

from __future__ import annotations

import time
from datetime import datetime

import msgspec
from aiohttp import web

from taxsms.api.books import books
from taxsms.api.errors import json_response
from taxsms.api.routes import RouteTable, console_route, json_reply
from taxsms.api.sessions import request_session
from taxsms.api.snapshot import take_snapshot
from taxsms.api.state import API_KEYS, CONFIG, KEYS, REDIS, WINDOWS
from taxsms.queue.jobs import CHINA


def fleet(beats: dict[bytes, bytes], now: float, fresh_s: float) -> dict[str, object]:
    """Workers alive, binds up / wanted, submits at the SMSC and send windows, from the heartbeats (pure)."""
    alive, gone, binds, wanted, in_flight = [], 0, 0, 0, 0
    windows: dict[str, dict[str, object]] = {}
    for consumer, raw in sorted(beats.items()):
        try:
            beat = msgspec.json.decode(raw)
            age = now - float(beat["at"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            continue
        if age > fresh_s:
            gone += 1
            continue
        name = consumer.decode("utf-8", "replace")
        up, want = int(beat.get("binds", 0)), int(beat.get("wanted", beat.get("binds", 0)))
        alive.append({"worker": name, "binds": up, "wanted": want, "in_flight": int(beat.get("in_flight", 0))})
        binds, wanted, in_flight = binds + up, wanted + want, in_flight + int(beat.get("in_flight", 0))
        for kind, state in (beat.get("windows") or {}).items():
            seen = windows.setdefault(kind, {"open": False, "next": 0.0})
            seen["open"] = bool(seen["open"] or state.get("open"))
            nxt = float(state.get("next") or 0)
            if nxt and (not seen["next"] or nxt < float(seen["next"])):  # type: ignore[arg-type]
                seen["next"] = nxt
    for state in windows.values():
        if state["open"]:
            state["next"] = 0.0
    return {
        "workers": alive,
        "workers_gone": gone,
        "binds_up": binds,
        "binds_wanted": wanted,
        "in_flight": in_flight,
        "windows": windows,
    }


async def dashboard(request: web.Request) -> web.Response:
    """The platform's live figures for province operators; the operator's unit's month for the others."""
    session = request_session(request)
    redis, keys = request.app[REDIS], request.app[KEYS]
    if not session.province_wide:
        return json_response({"scope": "unit", **await _unit_month(request)})
    snapshot = await take_snapshot(redis, keys, request.app[WINDOWS])
    beats = await redis.hgetall(request.app[API_KEYS].workers)
    body = snapshot.body()
    del body["windows"]  # this server's settings: the workers' own windows come from their heartbeats
    return json_response({"scope": "platform", **body, **fleet(beats, time.time(), request.app[CONFIG].worker_fresh_s)})


async def _unit_month(request: web.Request) -> dict[str, object]:
    session, found = request_session(request), await books(request)
    unit, month = session.operator.unit, f"{datetime.now(CHINA):%Y-%m}"
    report = await found.accounting.report(month)
    row = report.rolled.get(unit, {})
    quota = await found.accounting.get_quota(unit)
    campaigns: dict[str, int] = {}
    for campaign in await found.campaigns.recent(200):
        if session.sees(campaign.unit):
            campaigns[campaign.state.value] = campaigns.get(campaign.state.value, 0) + 1
    return {"at": time.time(), "unit": unit, "month": month, "usage": row, "quota": quota, "campaigns": campaigns}


DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["scope", "at"],
    "properties": {
        "scope": {"type": "string", "enum": ["platform", "unit"]},
        "at": {"type": "number"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "stats": {"type": "object", "additionalProperties": {"type": "integer"}},
        "sent": {"type": "integer"},
        "lanes": {"type": "array", "items": {"type": "object"}},
        "workers": {"type": "array", "items": {"type": "object"}},
        "workers_gone": {"type": "integer"},
        "binds_up": {"type": "integer"},
        "binds_wanted": {"type": "integer"},
        "in_flight": {"type": "integer", "description": "submits at the SMSC, awaiting its answer"},
        "windows": {"type": "object"},
        "unit": {"type": "string"},
        "month": {"type": "string"},
        "usage": {"type": "object"},
        "quota": {"type": ["integer", "null"]},
        "campaigns": {"type": "object"},
    },
}


def register_dashboard_routes(table: RouteTable) -> None:
    table.add(
        console_route(
            "GET",
            "/console/api/dashboard",
            dashboard,
            "Live platform figures (province operators) or the operator's unit's month",
            responses={200: json_reply("Figures", DASHBOARD_SCHEMA)},
        )
    )
