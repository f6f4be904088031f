"""Bearer API tokens for upstream systems: issued once, stored hashed, bound to a unit and scopes, rate limited.

A token is 32 random bytes (url-safe base64, prefixed `tsk_`); Redis keeps only its sha256 digest (a
high-entropy secret needs no slow hash). Its record names the unit it acts for, the job kinds it may
enqueue and the recipient units its jobs may target ('*' = any). The token is also registered as a principal
(`taxsms.governance.registry.PrincipalBook`), with the operator who issued it (its keeper: while they are
suspended, the token sends nothing); admission reads the principal from there, at intake as at the worker
(`Gate.registered`), so the keeper has one record. Nothing here logs a token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis

from taxsms import commalist
from taxsms.api.config import ApiConfig
from taxsms.api.errors import ApiError
from taxsms.api.keys import ApiKeys
from taxsms.api.routes import Route
from taxsms.api.state import CONFIG, TOKENS
from taxsms.governance.audit import Action, AuditLog
from taxsms.governance.policy import Principal, PrincipalKind
from taxsms.governance.registry import PrincipalBook
from taxsms.queue.jobs import Kind

TOKEN_PREFIX = "tsk_"
ANY_UNIT = "*"
TOKEN = web.RequestKey("token", object)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _csv(values: frozenset[str]) -> str:
    return ",".join(sorted(values))


def _set(text: str) -> frozenset[str]:
    return commalist.names(text)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """What a token may do. `id` is a prefix of the digest: safe to log and to revoke by."""

    id: str
    unit: str
    kinds: frozenset[str]
    recipient_units: frozenset[str]
    name: str = ""
    pii: bool = False  # may read full phone numbers

    @property
    def tag(self) -> str:
        """The token as a principal ('token:ID'): admit its jobs for the registered one (Gate.registered)."""
        return f"{PrincipalKind.TOKEN}:{self.id}"

    @property
    def namespace(self) -> str:
        """Prefix of this token's job ids in the store, so no token can take another's ids."""
        return f"{self.id}/"


class TokenStore:
    """Issue, look up and revoke API tokens in Redis; `clock` (epoch seconds) says which second a request
    counts in for the rate limit."""

    def __init__(
        self, redis: Redis, keys: ApiKeys, *, audit: AuditLog | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.principals = PrincipalBook(redis, keys.keys)
        self._audit = audit
        self._clock = clock

    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            self._audit = AuditLog(self.redis, self.keys.keys)
        return self._audit

    async def create(
        self,
        unit: str,
        kinds: frozenset[str] | set[str],
        recipient_units: frozenset[str] | set[str] | None = None,
        *,
        name: str = "",
        pii: bool = False,
        actor: str = "",
    ) -> tuple[str, ApiToken]:
        """Issue a token; return (the secret, shown once, and its record). Recipient units default to `unit`;
        `actor`, the issuing operator, is its keeper."""
        if not unit:
            raise ValueError("a token must be bound to a unit")
        unknown = set(kinds) - {kind.value for kind in Kind}
        if not kinds or unknown:
            raise ValueError(f"kinds must be some of {', '.join(k.value for k in Kind)} (unknown: {sorted(unknown)})")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        hashed = digest(secret)
        scope = frozenset(recipient_units or {unit})
        token = ApiToken(hashed[:16], unit, frozenset(kinds), scope, name, pii)
        record = {
            "id": token.id,
            "unit": unit,
            "kinds": _csv(token.kinds),
            "recipient_units": _csv(token.recipient_units),
            "name": name,
            "pii": int(pii),
            "created_at": f"{time.time():.3f}",
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.token(hashed), mapping=record)
            pipe.hset(self.keys.tokens, token.id, hashed)
            await pipe.execute()
        principal = Principal(
            PrincipalKind.TOKEN, token.id, unit, frozenset(Kind(k) for k in token.kinds), scope, keeper=actor
        )  # its keeper is recorded here only: admission reads it from the registered principal
        await self.principals.register(principal, name, at=float(record["created_at"]))
        details = {"unit": unit, "kinds": sorted(token.kinds), "recipient_units": sorted(token.recipient_units)}
        await self.audit.append(actor or "cli", Action.TOKEN_CREATE, token.id, details | {"name": name, "pii": pii})
        return secret, token

    async def revoke(self, token_id: str, *, actor: str = "") -> bool:
        hashed = await self.redis.hget(self.keys.tokens, token_id)
        if hashed is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.token(hashed.decode()))
            pipe.hdel(self.keys.tokens, token_id)
            await pipe.execute()
        await self.principals.remove(f"{PrincipalKind.TOKEN}:{token_id}")
        await self.audit.append(actor or "cli", Action.TOKEN_REVOKE, token_id, {})
        return True

    async def check(self, secret: str, rate_limit: int) -> tuple[ApiToken | None, int]:
        """Look a token up and count this request against its rate: (token or None, requests this second)."""
        hashed = digest(secret)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.token(hashed))
            if rate_limit:
                key = self.keys.rate(hashed[:16], int(self._clock()))
                pipe.incr(key)
                pipe.expire(key, 2)
            replies = await pipe.execute()
        raw = {k.decode(): v.decode() for k, v in replies[0].items()}
        if not raw:
            return None, 0
        kinds, scope = _set(raw["kinds"]), _set(raw["recipient_units"])
        token = ApiToken(raw["id"], raw["unit"], kinds, scope, raw["name"], raw["pii"] == "1")
        return token, int(replies[1]) if rate_limit else 0


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send an API token: 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return secret.strip()


async def token_guard(request: web.Request, route: Route) -> None:
    """Route guard for auth="token": a known token, within its rate limit; puts it in request[TOKEN]."""
    config: ApiConfig = request.app[CONFIG]
    token, count = await request.app[TOKENS].check(bearer(request), config.rate_limit)
    if token is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    if config.rate_limit and count > config.rate_limit:
        raise ApiError(
            429, "rate_limited", f"more than {config.rate_limit} requests per second", headers={"Retry-After": "1"}
        )
    request[TOKEN] = token


def request_token(request: web.Request) -> ApiToken:
    token = request[TOKEN]
    assert isinstance(token, ApiToken)
    return token
