"""Refusals as RFC 9457 problem details: every 4xx/5xx the API sends is `application/problem+json`.

The body is {"type": "urn:taxsms:problem:<error>", "title": <HTTP reason>, "status": <code>, "detail": <what
was wrong>, "error": <error>} plus any extension members a refusal adds (e.g. the bulk intake's `items`);
`error` is the short machine-readable code clients switch on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.web_response import Response
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PROBLEM = "application/problem+json"
PROBLEM_TYPE = "urn:taxsms:problem:"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "error"],
    "properties": {
        "type": {"type": "string", "description": "urn:taxsms:problem:<error>"},
        "title": {"type": "string", "description": "the HTTP status's reason phrase"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what was wrong, for a person"},
        "error": {"type": "string", "description": "the machine-readable code (the last part of type)"},
    },
}


def problem(status: int, error: str, detail: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem object."""
    title = Response(status=status).reason
    return {"type": PROBLEM_TYPE + error, "title": title, "status": status, "detail": detail, "error": error, **extra}


class ApiError(web.HTTPException):
    """An HTTP refusal with a problem+json body; raise it from any handler."""

    def __init__(
        self, status: int, error: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        self.status_code = status
        super().__init__(
            headers=headers,
            text=msgspec.json.encode(problem(status, error, detail, **extra)).decode(),
            content_type=PROBLEM,
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
