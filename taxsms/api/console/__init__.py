"""The web console: static pages (HTML/CSS/JS) and the JSON endpoints their scripts call.

Pages are public shells; everything they show comes from /console/api/* endpoints behind the operator's
session (and its CSRF token for changes). The scripts send operators to /console/login on a 401.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from taxsms.api.errors import ApiError, json_response
from taxsms.api.jobs import JOB_ID_PARAM, RECORD_SCHEMA, mask_record
from taxsms.api.routes import Param, Reply, Route, RouteTable, error_reply, json_reply
from taxsms.api.sessions import request_session
from taxsms.api.snapshot import take_snapshot
from taxsms.api.state import KEYS, REDIS, STORE, WINDOWS

STATIC = resources.files(__package__) / "static"
PAGES = {
    "/console/": "dashboard.html",
    "/console/login": "login.html",
    "/console/jobs": "jobs.html",
}
ASSETS = {"app.css": "text/css", "app.js": "text/javascript", "login.js": "text/javascript"}
HTML = "text/html"


def _page(filename: str):  # type: ignore[no-untyped-def]
    body = (STATIC / filename).read_bytes()

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=HTML, charset="utf-8")

    page.__name__ = "page_" + filename.removesuffix(".html")
    return page


async def asset(request: web.Request) -> web.Response:
    """A console stylesheet or script."""
    name = request.match_info["name"]
    if name not in ASSETS:
        raise ApiError(404, "not_found", f"no console asset {name!r}")
    return web.Response(body=(STATIC / name).read_bytes(), content_type=ASSETS[name], charset="utf-8")


async def root(request: web.Request) -> web.Response:
    """The console."""
    raise web.HTTPFound("/console/")


async def console_root(request: web.Request) -> web.Response:
    """/console without the slash: the console."""
    raise web.HTTPFound("/console/")


async def dashboard(request: web.Request) -> web.Response:
    """Counts by state, lane depth, send windows (the dashboard polls this every second); province operators only."""
    if not request_session(request).province_wide:
        raise ApiError(403, "forbidden", "the platform's figures are for province operators")
    snapshot = await take_snapshot(request.app[REDIS], request.app[KEYS], request.app[WINDOWS])
    return json_response(snapshot.body())


async def console_job(request: web.Request) -> web.Response:
    """One job's record for operators of its unit or above (phone always masked)."""
    job_id = request.match_info["id"]
    record = await request.app[STORE].job(job_id)
    if record is None or not request_session(request).sees(record.get("unit", "")):
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    return json_response({"id": job_id, "record": mask_record(record)})


COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["at", "counts", "stats", "sent", "lanes", "windows"],
    "properties": {
        "at": {"type": "number"},
        "counts": COUNTS,
        "stats": COUNTS,
        "sent": {"type": "integer"},
        "lanes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["lane", "depth", "pending", "delayed"],
                "properties": {k: {"type": "integer"} for k in ("lane", "depth", "pending", "delayed")},
            },
        },
        "windows": {"type": "object", "additionalProperties": {"type": "boolean"}},
    },
}


def register_console_routes(table: RouteTable) -> None:
    html = Reply("HTML page", {HTML: {"type": "string"}})
    to_console = {302: Reply("To /console/")}
    table.add(Route("GET", "/", root, "Redirect to the console", "console", responses=to_console))
    table.add(Route("GET", "/console", console_root, "Redirect to /console/", "console", responses=to_console))
    for path, filename in PAGES.items():
        table.add(Route("GET", path, _page(filename), f"Console page ({filename})", "console", responses={200: html}))
    table.add(
        Route(
            "GET",
            "/console/static/{name}",
            asset,
            "Console stylesheet or script",
            "console",
            params=(Param("name", "path", {"type": "string", "enum": sorted(ASSETS)}, required=True),),
            responses={
                200: Reply("The asset", {ctype: {"type": "string"} for ctype in sorted(set(ASSETS.values()))}),
                404: error_reply("No such asset"),
            },
        )
    )
    table.add(
        Route(
            "GET",
            "/console/api/dashboard",
            dashboard,
            "Live queue figures",
            "console",
            auth="session",
            responses={200: json_reply("Figures", DASHBOARD_SCHEMA)},
        )
    )
    table.add(
        Route(
            "GET",
            "/console/api/jobs/{id}",
            console_job,
            "One job's record (masked)",
            "console",
            auth="session",
            params=(JOB_ID_PARAM,),
            responses={200: json_reply("The record", RECORD_SCHEMA), 404: error_reply("No such job")},
        )
    )
