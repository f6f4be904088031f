"""The single route table: every endpoint, its auth and its schemas, installed into aiohttp AND documented.

Handlers never check credentials themselves: `RouteTable.install` wraps each one with the check its route
declares (`auth="token"`: a bearer API token, with its rate limit; `auth="session"`: a console session, and
its CSRF token on anything but GET), so what /openapi.json says is what the server enforces.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from taxsms.api.errors import ERROR_SCHEMA, PROBLEM, ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["none", "token", "session"]
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter."""

    name: str
    where: Literal["path", "query"]
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """One documented response: description, and the schema of its body per content type."""

    description: str
    content: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)


def json_reply(description: str, schema: dict[str, Any]) -> Reply:
    return Reply(description, {JSON: schema})


def error_reply(description: str) -> Reply:
    return Reply(description, {PROBLEM: ERROR_SCHEMA})


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: Auth = "none"
    responses: dict[int, Reply] = field(default_factory=dict)
    params: tuple[Param, ...] = ()
    body: dict[str, dict[str, Any]] | None = None  # content type -> schema
    name: str = ""  # operationId (default: derived from the handler)

    @property
    def csrf(self) -> bool:
        """Console requests that change state need the session's CSRF token."""
        return self.auth == "session" and self.method not in ("GET", "HEAD")

    @property
    def operation_id(self) -> str:
        return self.name or self.handler.__name__.lstrip("_")

    def all_responses(self) -> dict[int, Reply]:
        """The route's responses plus the refusals its auth, parameters and body can produce."""
        replies = dict(self.responses)
        if self.auth == "token":
            replies.setdefault(401, error_reply("No, malformed or unknown API token"))
            replies.setdefault(403, error_reply("The token's scope does not allow this"))
            replies.setdefault(429, error_reply("Rate limit of this token exceeded (see Retry-After)"))
        if self.auth == "session":
            replies.setdefault(401, error_reply("Not logged in"))
            if self.csrf:
                replies.setdefault(403, error_reply("Missing or wrong CSRF token"))
        if self.params or self.body:
            replies.setdefault(400, error_reply("Malformed request"))
        if self.body:
            replies.setdefault(413, error_reply("Request body too large"))
            replies.setdefault(415, error_reply("Unsupported content type"))
        replies.setdefault(405, error_reply("Method not allowed"))
        return replies


def console_route(method: str, path: str, handler: Handler, summary: str, **details: Any) -> Route:
    """An endpoint the console's scripts call: tagged "console", behind the operator's session."""
    return Route(method, path, handler, summary, "console", auth="session", **details)


Guard = Callable[[web.Request, Route], Awaitable[None]]


class RouteTable:
    """Routes registered by feature modules; installed into an app and rendered as OpenAPI from one list."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, route: Route) -> Route:
        if any(r.method == route.method and r.path == route.path for r in self._routes):
            raise ValueError(f"route {route.method} {route.path} registered twice")
        self._routes.append(route)
        return route

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def install(self, app: web.Application, guards: dict[Auth, Guard]) -> None:
        """Add every route to `app`, each handler wrapped with the guard of its auth kind."""
        for route in self._routes:
            app.router.add_route(route.method, route.path, _guarded(route, guards.get(route.auth)))


def _guarded(route: Route, guard: Guard | None) -> Handler:
    """The route's handler behind its guard; a route with query parameters refuses any it does not declare."""
    known = {param.name for param in route.params if param.where == "query"}
    if guard is None and not known:
        return route.handler

    async def handler(request: web.Request) -> web.StreamResponse:
        if known and not known.issuperset(request.query):
            unknown = sorted(set(request.query) - known)[0]
            detail = f"unknown query parameter {unknown!r}; known: {', '.join(sorted(known))}"
            raise ApiError(400, "bad_request", detail)
        if guard is not None:
            await guard(request, route)
        return await route.handler(request)

    handler.__name__ = route.handler.__name__
    return handler
