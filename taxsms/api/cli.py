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
from taxsms.errors import InvalidInput, NotFound, Refused, TaxsmsError
from taxsms.governance.errors import PermissionDenied
from taxsms.governance.operators import Operator
from taxsms.queue.jobs import Kind
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
    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument("--as", dest="actor", required=True, metavar="OPERATOR_ID", help="the acting admin")
    acting.add_argument("--password", help="its password (better: $TAXSMS_OPERATOR_PASSWORD, or a prompt)")
    create = actions.add_parser(
        "create", parents=[acting], help="issue a token (by an admin of its unit or above; printed once, stored hashed)"
    )
    runtime.redis_options(create)
    create.add_argument("--unit", required=True, help="the unit the token acts for")
    create.add_argument("--kinds", required=True, help="job kinds it may enqueue, comma-separated")
    create.add_argument("--recipient-units", help="recipient units its jobs may target, comma-separated, * = any")
    create.add_argument("--name", default="", help="what the token is for (shown in listings)")
    create.add_argument("--pii", action="store_true", help="may read full phone numbers")
    create.set_defaults(handler=cmd_token_create)
    revoke = actions.add_parser("revoke", parents=[acting], help="revoke a token by its id (an admin over its unit)")
    runtime.redis_options(revoke)
    revoke.add_argument("token_id")
    revoke.set_defaults(handler=cmd_token_revoke)


async def create_token(
    redis: Any,
    keys: Any,
    operator: Operator,
    unit: str,
    kinds: set[str],
    recipient_units: set[str] | None = None,
    **extra: Any,
) -> tuple[str, str]:
    """Issue a token for `unit` as the authenticated `operator` (an active, confirmed admin of the unit or a unit
    above; the token's kinds and recipient units within what scope.token_grant_refusal allows); return (secret,
    token id). Issued and refused tokens are both audited; PermissionDenied when refused."""
    from taxsms.api.auth import TokenStore
    from taxsms.api.keys import ApiKeys
    from taxsms.governance.audit import Action, AuditLog
    from taxsms.governance.operators import OperatorBook
    from taxsms.governance.scope import token_grant_refusal

    tree = await known_units(redis, keys, {unit, *(recipient_units or ())})
    try:
        parsed = frozenset(Kind(kind) for kind in kinds)
    except ValueError as exc:
        raise InvalidInput(f"unknown kind: {exc}", "see taxsms api-token create --help") from None
    operator = await OperatorBook(redis, keys, tree).current(operator)
    scope = frozenset(recipient_units or {unit})
    refusal = token_grant_refusal(tree, operator, unit, parsed, scope)
    if refusal:
        details = {"unit": unit, "kinds": sorted(parsed), "recipient_units": sorted(scope), "reason": refusal}
        await AuditLog(redis, keys).append(operator.id, Action.TOKEN_REFUSED, unit, details)
        raise PermissionDenied(refusal)
    store = TokenStore(redis, ApiKeys(keys))
    secret, token = await store.create(unit, kinds, scope, actor=operator.id, **extra)
    return secret, token.id


async def known_units(redis: Any, keys: Any, units: set[str]) -> Any:
    """The unit tree, if it holds every one of `units` ('*' aside); InvalidInput naming the unknown ones."""
    from taxsms.governance.units import load_units

    tree = await load_units(redis, keys)
    unknown = sorted(u for u in units - {"*"} if u not in tree)
    if unknown:
        hint = "see taxsms units list" if len(tree) else "load the unit tree first: taxsms units load FILE"
        raise InvalidInput(f"unknown unit {', '.join(unknown)}", hint)
    return tree


async def _acting_operator(redis: Any, keys: Any, args: argparse.Namespace) -> Operator:
    """The operator named by --as, logged in with --password or $TAXSMS_OPERATOR_PASSWORD (failures audited)."""
    from taxsms.governance.enqueue import operator_password
    from taxsms.governance.operators import OperatorBook
    from taxsms.governance.units import load_units

    book = OperatorBook(redis, keys, await load_units(redis, keys))
    return await book.login(args.actor, args.password or operator_password(args.actor))


def cmd_token_create(args: argparse.Namespace, cfg: Settings) -> int:
    async def work(redis: Any, keys: Any) -> tuple[str, str]:
        recipient_units = set(names(args.recipient_units)) or None
        await known_units(redis, keys, {args.unit, *(recipient_units or ())})  # before asking for a password
        operator = await _acting_operator(redis, keys, args)
        return await create_token(
            redis, keys, operator, args.unit, set(names(args.kinds)), recipient_units, name=args.name, pii=args.pii
        )

    try:
        secret, token_id = runtime.with_redis(cfg, work)
    except PermissionDenied as error:
        raise Refused(f"refused: {error}", "ask an admin of the token's unit or a unit above") from None
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
    from taxsms.governance.audit import Action
    from taxsms.governance.units import load_units

    async def work(redis: Any, keys: Any) -> bool:
        store = TokenStore(redis, ApiKeys(keys))
        found = await store.principals.get(f"token:{args.token_id}")
        if found is None:
            return False
        operator = await _acting_operator(redis, keys, args)
        tree = await load_units(redis, keys)
        if not (operator.active and operator.is_admin and tree.contains(operator.unit, found.unit)):
            refusal = f"operator {operator.id} of {tree.describe(operator.unit)} may not revoke a token of {found.unit}"
            await store.audit.append(operator.id, Action.TOKEN_REFUSED, args.token_id, {"reason": refusal})
            raise PermissionDenied(refusal)
        return await store.revoke(args.token_id, actor=operator.id)

    try:
        revoked = runtime.with_redis(cfg, work)
    except PermissionDenied as error:
        raise Refused(f"refused: {error}", "ask an admin of the token's unit or a unit above") from None
    if not revoked:
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
