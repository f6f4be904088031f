"""`taxsms serve` and `taxsms api-token create|revoke`: add_commands(subparsers) wires them into taxsms.cli."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from taxsms import runtime
from taxsms.commalist import names
from taxsms.errors import InvalidInput, NotFound, TaxsmsError
from taxsms.settings import Settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `serve` and `api-token` to the taxsms command; each parser's `handler` is set (args, cfg) -> int."""
    serve = subparsers.add_parser("serve", help="run the HTTP API, the web console and /metrics")
    runtime.redis_options(serve)
    serve.add_argument("--host", dest="serve.host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", dest="serve.port", help="port to listen on (default 8080)")
    serve.add_argument(
        "--plain-http",
        dest="serve.plain_http",
        action="store_true",
        default=None,
        help="served over plain HTTP for local use: the session cookie goes without the Secure flag",
    )
    serve.set_defaults(handler=cmd_serve)

    token = subparsers.add_parser("api-token", help="issue or revoke bearer tokens for upstream systems")
    actions = token.add_subparsers(dest="token_action", required=True)
    create = actions.add_parser("create", help="issue a token (printed once; only its hash is stored)")
    runtime.redis_options(create)
    create.add_argument("--unit", required=True, help="the unit the token acts for")
    create.add_argument("--kinds", required=True, help="job kinds it may enqueue, comma-separated")
    create.add_argument("--recipient-units", help="recipient units its jobs may target, comma-separated, * = any")
    create.add_argument("--name", default="", help="what the token is for (shown in listings)")
    create.add_argument("--pii", action="store_true", help="may read full phone numbers")
    create.set_defaults(handler=cmd_token_create)
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    runtime.redis_options(revoke)
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=cmd_token_revoke)


async def create_token(
    redis: Any, keys: Any, unit: str, kinds: set[str], recipient_units: set[str] | None = None, **extra: Any
) -> tuple[str, str]:
    """Issue a token for a unit of the loaded unit tree; return (secret, token id)."""
    from taxsms.api.auth import TokenStore
    from taxsms.api.keys import ApiKeys
    from taxsms.governance.units import load_units

    tree = await load_units(redis, keys)
    unknown = sorted(u for u in {unit, *(recipient_units or ())} - {"*"} if u not in tree)
    if unknown:
        hint = "see taxsms units list" if len(tree) else "load the unit tree first: taxsms units load FILE"
        raise InvalidInput(f"unknown unit {', '.join(unknown)}", hint)
    secret, token = await TokenStore(redis, ApiKeys(keys)).create(unit, kinds, recipient_units, **extra)
    return secret, token.id


def cmd_token_create(args: argparse.Namespace, cfg: Settings) -> int:
    async def work(redis: Any, keys: Any) -> tuple[str, str]:
        return await create_token(
            redis, keys, args.unit, set(names(args.kinds)), set(names(args.recipient_units)) or None,
            name=args.name, pii=args.pii,
        )  # fmt: skip

    try:
        secret, token_id = runtime.with_redis(cfg, work)
    except TaxsmsError:
        raise
    except ValueError as exc:
        raise InvalidInput(str(exc), "see taxsms api-token create --help") from None
    print(f"token id {token_id} (unit {args.unit}); the token, shown only this once:", file=sys.stderr)
    print(secret)
    return 0


def cmd_token_revoke(args: argparse.Namespace, cfg: Settings) -> int:
    from taxsms.api.auth import TokenStore
    from taxsms.api.keys import ApiKeys

    async def work(redis: Any, keys: Any) -> bool:
        return await TokenStore(redis, ApiKeys(keys)).revoke(args.token_id)

    if not runtime.with_redis(cfg, work):
        raise NotFound(f"no token {args.token_id!r}", "check the id printed when it was created")
    return 0


def cmd_serve(args: argparse.Namespace, cfg: Settings) -> int:
    from taxsms.api.serve import serve

    host, port = cfg.serve.host, cfg.serve.port
    runtime.started("serve", cfg, listen=f"{host}:{port}", send_windows=f"'{cfg.windows().window_text()}'")

    async def go() -> None:
        task = asyncio.ensure_future(serve(host, port, cfg.redis_url, cfg.prefix, cfg.api_config()))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.run(go())
    return 0
