"""`taxsms serve` and `taxsms api-token create|revoke`: add_commands(subparsers) wires them into taxsms.cli."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

from taxsms import settings
from taxsms.api.config import ApiConfig


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `serve` and `api-token` to the taxsms command; each parser's `handler` is set (args, file) -> int."""
    serve = subparsers.add_parser("serve", help="run the HTTP API, the web console and /metrics")
    serve.add_argument("--redis-url")
    serve.add_argument("--prefix")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--plain-http",
        action="store_true",
        default=None,
        help="served over plain HTTP for local use: the session cookie goes without the Secure flag",
    )
    serve.set_defaults(handler=cmd_serve)

    token = subparsers.add_parser("api-token", help="issue or revoke bearer tokens for upstream systems")
    actions = token.add_subparsers(dest="token_action", required=True)
    create = actions.add_parser("create", help="issue a token (printed once; only its hash is stored)")
    create.add_argument("--redis-url")
    create.add_argument("--prefix")
    create.add_argument("--unit", required=True, help="the unit the token acts for")
    create.add_argument("--kinds", required=True, help="job kinds it may enqueue, comma-separated")
    create.add_argument("--recipient-units", help="recipient units its jobs may target, comma-separated, * = any")
    create.add_argument("--name", default="", help="what the token is for (shown in listings)")
    create.add_argument("--pii", action="store_true", help="may read full phone numbers")
    create.set_defaults(handler=cmd_token_create)
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("--redis-url")
    revoke.add_argument("--prefix")
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=cmd_token_revoke)


def _where(args: argparse.Namespace, file: dict[str, Any]) -> tuple[str, str]:
    redis_url = (
        args.redis_url or os.environ.get("TAXSMS_REDIS_URL") or file.get("redis_url") or "redis://127.0.0.1:6379/0"
    )
    prefix = args.prefix or os.environ.get("TAXSMS_PREFIX") or file.get("prefix") or "taxsms"
    return redis_url, prefix


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _names(text: str | None) -> set[str]:
    return {part.strip() for part in (text or "").split(",") if part.strip()}


async def create_token(
    redis_url: str, prefix: str, unit: str, kinds: set[str], recipient_units: set[str] | None = None, **extra: Any
) -> tuple[str, str]:
    """Issue a token; return (secret, token id)."""
    from taxsms.api.auth import TokenStore
    from taxsms.api.keys import ApiKeys
    from taxsms.queue.connect import connect
    from taxsms.queue.keys import Keys

    redis = connect(redis_url)
    try:
        secret, token = await TokenStore(redis, ApiKeys(Keys(prefix))).create(unit, kinds, recipient_units, **extra)
    finally:
        await redis.aclose()
    return secret, token.id


def cmd_token_create(args: argparse.Namespace, file: dict[str, Any]) -> int:
    redis_url, prefix = _where(args, file)
    try:
        secret, token_id = _run(
            create_token(
                redis_url,
                prefix,
                args.unit,
                _names(args.kinds),
                _names(args.recipient_units) or None,
                name=args.name,
                pii=args.pii,
            )
        )
    except ValueError as exc:
        print(f"taxsms api-token: {exc}", file=sys.stderr)
        return 2
    print(f"token id {token_id} (unit {args.unit}); the token, shown only this once:", file=sys.stderr)
    print(secret)
    return 0


def cmd_token_revoke(args: argparse.Namespace, file: dict[str, Any]) -> int:
    from taxsms.api.auth import TokenStore
    from taxsms.api.keys import ApiKeys
    from taxsms.queue.connect import connect
    from taxsms.queue.keys import Keys

    redis_url, prefix = _where(args, file)

    async def go() -> bool:
        redis = connect(redis_url)
        try:
            return await TokenStore(redis, ApiKeys(Keys(prefix))).revoke(args.token_id)
        finally:
            await redis.aclose()

    if not _run(go()):
        print(f"no token {args.token_id!r}", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args: argparse.Namespace, file: dict[str, Any]) -> int:
    from taxsms.api.serve import serve

    redis_url, prefix = _where(args, file)
    config = settings.build(ApiConfig, file=file, overrides={"plain_http": args.plain_http})

    async def go() -> None:
        task = asyncio.ensure_future(serve(args.host, args.port, redis_url, prefix, config))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    _run(go())
    return 0
