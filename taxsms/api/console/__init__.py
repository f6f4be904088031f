"""The web console: static pages (HTML/CSS/JS, no build step) and the JSON endpoints their scripts call.

Every page is the one shell (static/shell.html: head, header, nav) around its own content
(static/pages/NAME.html) and script (static/NAME.js). Pages are public; everything they show comes from
/console/api/* endpoints behind the operator's session (and its CSRF token for changes), scoped to the
operator's unit. The scripts send operators to /console/login on a 401 and render data with textContent only.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from taxsms.api.console.audiences import register_audience_routes
from taxsms.api.console.campaigns import register_campaign_routes
from taxsms.api.console.dashboard import register_dashboard_routes
from taxsms.api.console.inbox import register_inbox_routes
from taxsms.api.console.records import register_record_routes
from taxsms.api.errors import ApiError, json_response
from taxsms.api.jobs import JOB_ID_PARAM, RECORD_SCHEMA, mask_record
from taxsms.api.routes import Param, Reply, Route, RouteTable, console_route, error_reply, json_reply
from taxsms.api.sessions import request_session
from taxsms.api.state import STORE

STATIC = resources.files(__package__) / "static"
PAGES = {
    "/console/": "dashboard",
    "/console/login": "login",
    "/console/account": "account",
    "/console/campaigns": "campaigns",
    "/console/inbox": "inbox",
    "/console/directory": "directory",
    "/console/jobs": "jobs",
    "/console/audit": "audit",
}
SCRIPTS = ("app", "i18n", "chart", *PAGES.values())
ASSETS = {"app.css": "text/css"} | {f"{name}.js": "text/javascript" for name in SCRIPTS}
HTML = "text/html"


def render_page(name: str) -> bytes:
    """One page: the shared shell (head, header, nav) around the page's own <main> content."""
    shell = (STATIC / "shell.html").read_text(encoding="utf-8")
    main = (STATIC / "pages" / f"{name}.html").read_text(encoding="utf-8")
    return shell.replace("{{page}}", name).replace("{{main}}", main.rstrip()).encode()


def _page(name: str):  # type: ignore[no-untyped-def]
    body = render_page(name)

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=HTML, charset="utf-8")

    page.__name__ = "page_" + name
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


async def console_job(request: web.Request) -> web.Response:
    """One job's record for operators of its unit or above (phone always masked)."""
    job_id = request.match_info["id"]
    record = await request.app[STORE].job(job_id)
    if record is None or not request_session(request).sees(record.get("unit", "")):
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    return json_response({"id": job_id, "record": mask_record(record)})


def register_console_routes(table: RouteTable) -> None:
    html = Reply("HTML page", {HTML: {"type": "string"}})
    to_console = {302: Reply("To /console/")}
    table.add(Route("GET", "/", root, "Redirect to the console", "console", responses=to_console))
    table.add(
        Route(
            "GET", "/console", root, "Redirect to /console/", "console", responses=to_console, name="console_redirect"
        )
    )
    for path, name in PAGES.items():
        table.add(Route("GET", path, _page(name), f"Console page ({name})", "console", responses={200: html}))
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
        console_route(
            "GET",
            "/console/api/jobs/{id}",
            console_job,
            "One job's record (masked; jobs of the operator's jurisdiction)",
            params=(JOB_ID_PARAM,),
            responses={200: json_reply("The record", RECORD_SCHEMA), 404: error_reply("No such job")},
        )
    )
    register_dashboard_routes(table)
    register_campaign_routes(table)
    register_audience_routes(table)
    register_inbox_routes(table)
    register_record_routes(table)
