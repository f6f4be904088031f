"""Typed keys for what create_app puts in the aiohttp application (one place, no globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from argon2 import PasswordHasher
from redis.asyncio import Redis

from taxsms.api.config import ApiConfig
from taxsms.api.keys import ApiKeys
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.governance.admission import Gate
from taxsms.governance.audit import AuditLog
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore

if TYPE_CHECKING:
    from taxsms.api.auth import TokenStore
    from taxsms.api.login_limits import LoginLimits
    from taxsms.api.metrics import ApiMetrics
    from taxsms.api.routes import RouteTable
    from taxsms.api.sessions import SessionStore

REDIS = web.AppKey("redis", Redis)
KEYS = web.AppKey("keys", Keys)
API_KEYS = web.AppKey("api_keys", ApiKeys)
CONFIG = web.AppKey("config", ApiConfig)
STORE = web.AppKey("store", JobStore)
TOKENS: web.AppKey[TokenStore] = web.AppKey("tokens")
SESSIONS: web.AppKey[SessionStore] = web.AppKey("sessions")
LOGIN_LIMITS: web.AppKey[LoginLimits] = web.AppKey("login_limits")
HASHER = web.AppKey("hasher", PasswordHasher)
AUDIT = web.AppKey("audit", AuditLog)
METRICS: web.AppKey[ApiMetrics] = web.AppKey("metrics")
ROUTES: web.AppKey[RouteTable] = web.AppKey("routes")
WINDOWS = web.AppKey("windows", WindowPolicy)
FEATURES = web.AppKey("features", dict)
GATE = web.AppKey("gate", Gate)
