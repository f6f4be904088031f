"""Console sessions over the governance operator book: log in, out, change the password, and the session guard.

A session is a random cookie (HttpOnly, SameSite=Strict, Secure unless the API is served over plain HTTP for
local use), stored in Redis under the sha256 of its value with the operator's id, a CSRF token and a
fingerprint of the operator's password hash. It ends after `session_idle_s` without use or `session_max_s`
in all. Every request re-reads the operator: a removed or suspended operator's session ends on its next
request, and so does every session of an operator whose password changed. Logins are counted before the
password is checked (login_limits.py); failures and back-offs go to the audit log.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import msgspec
from aiohttp import web
from redis.asyncio import Redis

from taxsms.api.books import books
from taxsms.api.errors import ApiError, json_response
from taxsms.api.keys import ApiKeys
from taxsms.api.routes import JSON, Route, RouteTable, console_route, error_reply, json_reply
from taxsms.api.state import AUDIT, CONFIG, LOGIN_LIMITS, SESSIONS
from taxsms.governance.audit import Action
from taxsms.governance.errors import PermissionDenied
from taxsms.governance.operators import Operator
from taxsms.governance.units import UnitTree

COOKIE = "taxsms_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION = web.RequestKey("session", object)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def fingerprint(operator: Operator) -> str:
    """Changes whenever the operator's password does (so its older sessions end)."""
    return _digest(operator.password_hash)[:16]


class _Stored(msgspec.Struct):
    operator: str
    csrf: str
    auth: str
    created: float


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: the operator as stored now, the unit tree, the CSRF token, when it ends."""

    operator: Operator
    tree: UnitTree
    csrf: str
    expires_at: float

    def sees(self, unit: str) -> bool:
        """True when `unit` lies in the operator's jurisdiction (its subtree; the province sees every unit, also
        records naming no or an unknown unit)."""
        return self.province_wide or self.tree.contains(self.operator.unit, unit)

    @property
    def province_wide(self) -> bool:
        return bool(self.tree.root) and self.operator.unit == self.tree.root


class SessionStore:
    """Create, read (refreshing the idle timeout) and end console sessions."""

    def __init__(self, redis: Redis, keys: ApiKeys, idle_s: int, max_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.idle_s = idle_s
        self.max_s = max_s

    async def create(self, operator: Operator) -> tuple[str, _Stored]:
        cookie = secrets.token_urlsafe(32)
        stored = _Stored(operator.id, secrets.token_urlsafe(32), fingerprint(operator), time.time())
        await self.redis.set(self.keys.session(_digest(cookie)), msgspec.json.encode(stored), ex=self.idle_s)
        return cookie, stored

    async def get(self, cookie: str) -> _Stored | None:
        key = self.keys.session(_digest(cookie))
        raw = await self.redis.getex(key, ex=self.idle_s)
        if raw is None:
            return None
        stored = msgspec.json.decode(raw, type=_Stored)
        if time.time() - stored.created > self.max_s:
            await self.redis.delete(key)
            return None
        return stored

    def expires_at(self, stored: _Stored) -> float:
        return min(time.time() + self.idle_s, stored.created + self.max_s)

    async def end(self, cookie: str) -> None:
        await self.redis.delete(self.keys.session(_digest(cookie)))


async def session_guard(request: web.Request, route: Route) -> None:
    """Route guard for auth="session": a live session of an active operator, and its CSRF token on changes."""
    cookie = request.cookies.get(COOKIE, "")
    store = request.app[SESSIONS]
    stored = await store.get(cookie) if cookie else None
    if stored is None:
        raise ApiError(401, "unauthorized", "log in to the console first (or the session expired)")
    found = await books(request)
    operator = await found.operators.find(stored.operator)
    if operator is None or not operator.active or fingerprint(operator) != stored.auth:
        await store.end(cookie)
        raise ApiError(401, "session_ended", "the session ended: the operator was suspended, removed or re-keyed")
    if route.csrf and not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), stored.csrf.encode()):
        raise ApiError(403, "csrf", f"missing or wrong {CSRF_HEADER} header")
    request[SESSION] = Session(operator, found.tree, stored.csrf, store.expires_at(stored))


def request_session(request: web.Request) -> Session:
    session = request[SESSION]
    assert isinstance(session, Session)
    return session


def _body(session: Session) -> dict[str, object]:
    op, tree = session.operator, session.tree
    return {
        "operator": op.id,
        "name": op.name,
        "unit": op.unit,
        "unit_name": tree.name_of(op.unit) if op.unit in tree else op.unit,
        "level": tree.level_of(op.unit).value if op.unit in tree else "",
        "roles": sorted(op.roles),
        "csrf": session.csrf,
        "expires_at": session.expires_at,
    }


class _Login(msgspec.Struct, forbid_unknown_fields=True):
    operator: str
    password: str


class _PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    old: str
    new: str


def _form(body: bytes, kind: type[msgspec.Struct], what: str) -> msgspec.Struct:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "bad_request", f"expected JSON {what}: {exc}") from None


async def login(request: web.Request) -> web.Response:
    """Check an operator's password; on success set the session cookie and return the CSRF token."""
    if request.content_type != JSON:  # a cross-site HTML form cannot send JSON
        raise ApiError(415, "unsupported_media_type", f"send {JSON}")
    form = _form(await request.read(), _Login, "{operator, password}")
    assert isinstance(form, _Login)
    if not form.operator or len(form.operator) > 64 or len(form.password) > 256:
        raise ApiError(400, "bad_request", "operator must be 1-64 characters and password at most 256")
    address = request.remote or "unknown"
    attempt = await request.app[LOGIN_LIMITS].attempt(form.operator, address)
    audit = request.app[AUDIT]
    if not attempt.allowed:
        wait = str(attempt.retry_after_s)
        raise ApiError(429, "locked", f"too many failed logins; try again in {wait} s", headers={"Retry-After": wait})
    if attempt.slow_s:
        await asyncio.sleep(attempt.slow_s)
    found = await books(request)
    operator = await found.operators.authenticate(form.operator, form.password)
    if operator is None:
        details = {"address": address}
        await audit.append(form.operator, Action.LOGIN_FAILED, form.operator, details)
        if attempt.locked:
            await audit.append(form.operator, Action.LOGIN_LOCKED, form.operator, details)
        raise ApiError(401, "unauthorized", "unknown operator, wrong password or suspended account")
    await request.app[LOGIN_LIMITS].succeeded(form.operator, address)
    await audit.append(operator.id, Action.LOGIN, operator.id, {"address": address})
    return await _start_session(request, operator, found.tree)


async def _start_session(request: web.Request, operator: Operator, tree: UnitTree) -> web.Response:
    store = request.app[SESSIONS]
    cookie, stored = await store.create(operator)
    response = json_response(_body(Session(operator, tree, stored.csrf, store.expires_at(stored))))
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="Strict",
        secure=not request.app[CONFIG].plain_http,
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """End the session and clear the cookie."""
    session = request_session(request)
    await request.app[SESSIONS].end(request.cookies[COOKIE])
    await request.app[AUDIT].append(session.operator.id, Action.LOGOUT, session.operator.id, {})
    response = json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def whoami(request: web.Request) -> web.Response:
    """The logged-in operator, its unit, the CSRF token and when the session ends."""
    return json_response(_body(request_session(request)))


async def change_password(request: web.Request) -> web.Response:
    """Change the logged-in operator's own password; every other session of it ends, this one is renewed."""
    session = request_session(request)
    form = _form(await request.read(), _PasswordChange, "{old, new}")
    assert isinstance(form, _PasswordChange)
    found = await books(request)
    try:
        operator = await found.operators.change_password(session.operator.id, form.old, form.new)
    except PermissionDenied:
        raise ApiError(403, "wrong_password", "the current password is wrong") from None
    except ValueError as exc:
        raise ApiError(422, "weak_password", str(exc)) from None
    await request.app[SESSIONS].end(request.cookies[COOKIE])
    return await _start_session(request, operator, found.tree)


SESSION_SCHEMA = {
    "type": "object",
    "required": ["operator", "name", "unit", "unit_name", "level", "roles", "csrf", "expires_at"],
    "properties": {
        "operator": {"type": "string"},
        "name": {"type": "string"},
        "unit": {"type": "string"},
        "unit_name": {"type": "string"},
        "level": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "csrf": {"type": "string"},
        "expires_at": {"type": "number", "description": "epoch seconds"},
    },
}
LOGIN_SCHEMA = {
    "type": "object",
    "required": ["operator", "password"],
    "additionalProperties": False,
    "properties": {"operator": {"type": "string"}, "password": {"type": "string"}},
}
PASSWORD_SCHEMA = {
    "type": "object",
    "required": ["old", "new"],
    "additionalProperties": False,
    "properties": {"old": {"type": "string"}, "new": {"type": "string", "minLength": 8}},
}


def register_session_routes(table: RouteTable) -> None:
    table.add(
        Route(
            "POST",
            "/console/api/login",
            login,
            "Log an operator in (sets an HttpOnly SameSite=Strict Secure session cookie)",
            "console",
            body={JSON: LOGIN_SCHEMA},
            responses={
                200: json_reply("Logged in", SESSION_SCHEMA),
                401: error_reply("Unknown operator, wrong password or suspended account"),
                415: error_reply("Not JSON"),
                429: error_reply("Too many failed logins from this address (see Retry-After)"),
            },
        )
    )
    table.add(
        console_route(
            "POST",
            "/console/api/logout",
            logout,
            "End the console session",
            responses={200: json_reply("Logged out", {"type": "object"})},
        )
    )
    table.add(
        console_route(
            "GET",
            "/console/api/session",
            whoami,
            "The logged-in operator, the CSRF token and the session's end",
            responses={200: json_reply("The session", SESSION_SCHEMA)},
        )
    )
    table.add(
        console_route(
            "POST",
            "/console/api/password",
            change_password,
            "Change the logged-in operator's password (other sessions end)",
            body={JSON: PASSWORD_SCHEMA},
            responses={
                200: json_reply("Changed; a new session", SESSION_SCHEMA),
                403: error_reply("Wrong current password, or missing CSRF token"),
                422: error_reply("The new password is refused (too short, unchanged)"),
            },
        )
    )
