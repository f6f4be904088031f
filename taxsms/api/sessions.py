"""Console sessions: a random cookie (HttpOnly, SameSite=Strict), stored hashed in Redis with a CSRF token.

The login endpoints and the guard for auth="session" routes live here too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import msgspec
from aiohttp import web
from redis.asyncio import Redis

from taxsms.api.errors import ApiError, json_response
from taxsms.api.keys import ApiKeys
from taxsms.api.operators import Operator
from taxsms.api.routes import JSON, Route, RouteTable, error_reply, json_reply
from taxsms.api.state import API_KEYS, CONFIG, OPERATORS, REDIS, SESSIONS

COOKIE = "taxsms_session"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_FAILURES_ALLOWED = 5
LOGIN_LOCK_S = 300
SESSION = web.RequestKey("session", object)


@dataclass(frozen=True, slots=True)
class Session:
    operator: Operator
    csrf: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SessionStore:
    """Create, read (refreshing the idle timeout) and end console sessions."""

    def __init__(self, redis: Redis, keys: ApiKeys, ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s

    async def create(self, operator: Operator) -> tuple[str, Session]:
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        record = {"id": operator.id, "name": operator.name, "unit": operator.unit, "roles": sorted(operator.roles)}
        await self.redis.set(
            self.keys.session(_digest(cookie)), msgspec.json.encode({"operator": record, "csrf": csrf}), ex=self.ttl_s
        )
        return cookie, Session(operator, csrf)

    async def get(self, cookie: str) -> Session | None:
        key = self.keys.session(_digest(cookie))
        raw = await self.redis.getex(key, ex=self.ttl_s)
        if raw is None:
            return None
        data = msgspec.json.decode(raw)
        op = data["operator"]
        return Session(Operator(op["id"], op["name"], op["unit"], frozenset(op["roles"])), data["csrf"])

    async def end(self, cookie: str) -> None:
        await self.redis.delete(self.keys.session(_digest(cookie)))


async def session_guard(request: web.Request, route: Route) -> None:
    """Route guard for auth="session": a live session, and its CSRF token on state-changing requests."""
    cookie = request.cookies.get(COOKIE)
    session = await request.app[SESSIONS].get(cookie) if cookie else None
    if session is None:
        raise ApiError(401, "unauthorized", "log in to the console first")
    if route.csrf and not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), session.csrf.encode()):
        raise ApiError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    request[SESSION] = session


def request_session(request: web.Request) -> Session:
    session = request[SESSION]
    assert isinstance(session, Session)
    return session


def _session_body(session: Session) -> dict[str, object]:
    op = session.operator
    return {"operator": op.id, "name": op.name, "unit": op.unit, "roles": sorted(op.roles), "csrf": session.csrf}


class _Login(msgspec.Struct, forbid_unknown_fields=True):
    operator: str
    password: str


async def login(request: web.Request) -> web.Response:
    """Check an operator's password; on success set the session cookie and return the CSRF token."""
    if request.content_type != JSON:  # a cross-site HTML form cannot send JSON
        raise ApiError(415, "unsupported_media_type", f"send {JSON}")
    try:
        form = msgspec.json.decode(await request.read(), type=_Login)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "bad_request", f"expected JSON {{operator, password}}: {exc}") from None
    if not form.operator or len(form.operator) > 64 or len(form.password) > 256:
        raise ApiError(400, "bad_request", "operator must be 1-64 characters and password at most 256")
    redis, keys = request.app[REDIS], request.app[API_KEYS]
    failures_key = keys.login_failures(form.operator)
    failures = int(await redis.get(failures_key) or 0)
    if failures >= LOGIN_FAILURES_ALLOWED:
        raise ApiError(429, "locked", "too many failed logins; try again later", headers={"Retry-After": "300"})
    operator = await request.app[OPERATORS].authenticate(form.operator, form.password)
    if operator is None:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.incr(failures_key)
            pipe.expire(failures_key, LOGIN_LOCK_S)
            await pipe.execute()
        await asyncio.sleep(0.2)
        raise ApiError(401, "unauthorized", "unknown operator or wrong password")
    await redis.delete(failures_key)
    cookie, session = await request.app[SESSIONS].create(operator)
    response = json_response(_session_body(session))
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="Strict",
        secure=request.app[CONFIG].secure_cookies,
        path="/",
        max_age=request.app[CONFIG].session_ttl_s,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """End the session and clear the cookie."""
    await request.app[SESSIONS].end(request.cookies[COOKIE])
    response = json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def whoami(request: web.Request) -> web.Response:
    """The logged-in operator and the session's CSRF token (for the console's scripts)."""
    return json_response(_session_body(request_session(request)))


SESSION_SCHEMA = {
    "type": "object",
    "required": ["operator", "name", "unit", "roles", "csrf"],
    "properties": {
        "operator": {"type": "string"},
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "csrf": {"type": "string"},
    },
}
LOGIN_SCHEMA = {
    "type": "object",
    "required": ["operator", "password"],
    "additionalProperties": False,
    "properties": {"operator": {"type": "string"}, "password": {"type": "string"}},
}


def register_session_routes(table: RouteTable) -> None:
    table.add(
        Route(
            "POST",
            "/console/api/login",
            login,
            "Log an operator in (sets an HttpOnly SameSite=Strict session cookie)",
            "console",
            body={JSON: LOGIN_SCHEMA},
            responses={
                200: json_reply("Logged in", SESSION_SCHEMA),
                401: error_reply("Unknown operator or wrong password"),
                415: error_reply("Not JSON"),
                429: error_reply("Too many failed logins"),
            },
        )
    )
    table.add(
        Route(
            "POST",
            "/console/api/logout",
            logout,
            "End the console session",
            "console",
            auth="session",
            responses={200: json_reply("Logged out", {"type": "object"})},
        )
    )
    table.add(
        Route(
            "GET",
            "/console/api/session",
            whoami,
            "The logged-in operator and the CSRF token",
            "console",
            auth="session",
            responses={200: json_reply("The session", SESSION_SCHEMA)},
        )
    )
