"""JSON refusals: every 4xx/5xx the API sends is {"error": ..., "detail": ...}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}


class ApiError(web.HTTPException):
    """An HTTP refusal with a JSON body; raise it from any handler."""

    def __init__(
        self, status: int, error: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.status_code = status
        super().__init__(
            headers=headers,
            text=msgspec.json.encode({"error": error, "detail": detail, **extra}).decode(),
            content_type="application/json",
        )


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(payload), status=status, content_type="application/json")


_REASONS = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's own refusals and unexpected exceptions into the JSON error body."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _REASONS.get(exc.status, "http_error")
        raise ApiError(exc.status, error, exc.reason, headers=_allow(exc)) from None
    except (RedisError, ConnectionError, TimeoutError) as exc:
        log.warning("Redis unavailable in %s %s: %s", request.method, request.rel_url.path, type(exc).__name__)
        raise ApiError(503, "unavailable", "the queue store (Redis) is unavailable; retry later") from None
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.rel_url.path)
        raise ApiError(500, "internal", "internal server error (logged)") from None


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else None
