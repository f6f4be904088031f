"""`taxsms inbox ...`, `taxsms subscriptions ...`, `taxsms invoices ...` and `taxsms replies run`.

`add_commands(subparsers)` adds them; each sub-command sets `args.handler`, called by taxsms.cli as
`handler(args, cfg) -> exit code` with the validated settings. Phone numbers are masked in everything printed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from redis.asyncio import Redis

from taxsms import errors, runtime
from taxsms.privacy import mask_phone
from taxsms.queue.keys import Keys
from taxsms.settings import Settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `inbox`, `subscriptions`, `invoices` and `replies` with their sub-commands to the `taxsms` parser."""
    inbox_sub = runtime.group(subparsers, "inbox", "the staff inbox: consultations, reports, complaints texted in")
    listing = runtime.command(inbox_sub, "list", cmd_inbox_list)
    listing.add_argument("--status", choices=["open", "answered", "all"], default="open")
    listing.add_argument("--limit", type=int, default=50)
    answer = runtime.command(inbox_sub, "answer", cmd_inbox_answer)
    answer.add_argument("ticket")
    answer.add_argument("text")
    answer.add_argument(
        "--as", dest="actor", required=True, help="the answering operator (password: $TAXSMS_OPERATOR_PASSWORD)"
    )

    subs_sub = runtime.group(subparsers, "subscriptions", "taxpayers' SMS subscriptions")
    runtime.import_command(
        subs_sub, "import", cmd_subscriptions_import, operator="who runs the import (recorded with the file)"
    )
    show = runtime.command(subs_sub, "show", cmd_subscriptions_show)
    show.add_argument("phone")
    setting = runtime.command(subs_sub, "set", cmd_subscriptions_set)
    setting.add_argument("phone")
    setting.add_argument("state", choices=["on", "off"])
    setting.add_argument("--taxpayer-id", default="", help="only for this taxpayer (default: every one on the phone)")
    runtime.change_options(setting)
    setting.add_argument(
        "--override", action="store_true", help="subscribe a phone that opted out by SMS (audited; needs a reason)"
    )

    invoices_sub = runtime.group(subparsers, "invoices", "the invoice and business-status tables for SMS queries")
    runtime.import_command(invoices_sub, "import", cmd_invoices_import)
    runtime.import_command(invoices_sub, "import-status", cmd_status_import)

    replies_sub = runtime.group(subparsers, "replies", "the automatic-reply service")
    run = runtime.command(replies_sub, "run", cmd_replies_run)
    run.add_argument("--provider-url", dest="replies.provider_url", help="HTTP lookup service (default: Redis tables)")
    run.add_argument("--provider-timeout", dest="replies.provider_timeout_s", help="seconds (default 3)")
    run.add_argument("--consumer", dest="replies.consumer", help="consumer name (default host-pid)")


def cmd_inbox_list(args: argparse.Namespace, cfg: Settings) -> int:
    """tickets, newest first"""
    from taxsms.replies.inbox import Inbox

    status = None if args.status == "all" else args.status

    async def work(redis: Redis, keys: Keys) -> int:
        tickets = await Inbox(redis, keys).list(status, limit=args.limit)
        for ticket in tickets:
            print(ticket)
        if not tickets:
            print("no tickets")
        return 0

    return runtime.with_redis(cfg, work)


@runtime.redis_command
async def cmd_inbox_answer(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """answer a ticket: mark it answered and enqueue the reply SMS"""
    from taxsms.governance.admission import Gate
    from taxsms.governance.enqueue import operator_password
    from taxsms.governance.errors import PermissionDenied
    from taxsms.governance.operators import OperatorBook
    from taxsms.governance.units import load_units
    from taxsms.queue.store import JobStore
    from taxsms.replies.inbox import Inbox, TicketError

    gate = Gate(redis, keys)
    try:
        book = OperatorBook(redis, keys, await load_units(redis, keys), audit=gate.audit)
        operator = await book.login(args.actor, operator_password(args.actor))
        job = await Inbox(redis, keys).answer(args.ticket, operator, args.text, gate)
    except (TicketError, PermissionDenied) as error:
        return runtime.fail("inbox answer", error)
    await JobStore(redis, keys).enqueue([job])
    print(f"answered {args.ticket}: reply {job.id} to {mask_phone(job.to)} enqueued")
    return 0


@runtime.redis_command
async def cmd_subscriptions_import(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """import CSV rows phone,taxpayer_id,subscribed (consent)"""
    from taxsms.replies.subscriptions import SubscriptionBook

    try:
        result = await SubscriptionBook(redis, keys).import_csv(args.file, operator=args.operator)
    except OSError as error:
        return runtime.fail("subscriptions import", error)
    runtime.print_refused(result.errors)
    print(
        f"{result.rows} rows: {result.subscribed} subscribed, {result.unsubscribed} unsubscribed, "
        f"{result.kept} kept unsubscribed (opted out by SMS), {result.failed} refused"
    )
    return errors.PARTIAL if result.failed else errors.OK


@runtime.redis_command
async def cmd_subscriptions_show(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """one phone's consent per taxpayer and its trail"""
    from taxsms.privacy import mask_taxpayer_id
    from taxsms.replies.subscriptions import SubscriptionBook, SubscriptionError

    book = SubscriptionBook(redis, keys)
    try:
        record = await book.record(args.phone)
    except SubscriptionError as error:
        return runtime.fail("subscriptions show", error)
    if record is None:
        print(f"{mask_phone(args.phone)}: no consent record")
        return 1
    state = "subscribed" if record.subscribed else "unsubscribed"
    sms = {"T": ", opted out by SMS", "K": ", opted in by SMS"}.get(record.sms, "")
    print(f"{mask_phone(record.phone)}: {state}{sms}")
    names = {"1": "subscribed", "0": "unsubscribed", "?": "never asked"}
    for taxpayer, value in sorted(record.taxpayers.items()):
        print(f"  taxpayer {mask_taxpayer_id(taxpayer)}: {names.get(value, value)}")
    print("trail:")
    files = {e.ref: await book.import_info(e.ref) for e in record.trail if e.how == "import"}
    for entry in record.trail:
        line = entry.describe()
        if entry.taxpayer_id in record.taxpayers:
            line = line.replace(entry.taxpayer_id, mask_taxpayer_id(entry.taxpayer_id), 1)
        if entry.how == "import":
            line = line.replace(f"import {entry.ref} ", f"import {entry.ref} {files[entry.ref]} ", 1)
        print(f"  {line}")
    return 0


@runtime.redis_command
async def cmd_subscriptions_set(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """staff: subscribe (on) or unsubscribe (off) a phone"""
    from taxsms.replies.subscriptions import EVERY_TAXPAYER, ConsentChange, How, SubscriptionBook, SubscriptionError

    change = ConsentChange(
        args.phone, args.state == "on", How.STAFF, time.time(), args.taxpayer_id or EVERY_TAXPAYER,
        ref=args.operator, detail=args.reason, override=args.override,
    )  # fmt: skip
    try:
        (outcome,) = await SubscriptionBook(redis, keys).apply([change])
    except SubscriptionError as error:
        return runtime.fail("subscriptions set", error)
    if outcome == "refused":
        print(
            f"{mask_phone(args.phone)} opted out by SMS: not subscribed. The taxpayer's choice wins; "
            "--override with a --reason subscribes it anyway (audited)",
            file=sys.stderr,
        )
        return 1
    print(f"{mask_phone(args.phone)}: {'subscribed' if args.state == 'on' else 'unsubscribed'} ({outcome})")
    return 0


def _load(args: argparse.Namespace, cfg: Settings, method: str, what: str) -> int:
    from taxsms.replies.providers import RedisProvider

    async def work(redis: Redis, keys: Keys) -> int:
        try:
            result = await getattr(RedisProvider(redis, keys), method)(args.file)
        except OSError as error:
            return runtime.fail(f"invoices {what}", error)
        runtime.print_refused(result.errors)
        print(f"loaded {result.loaded} rows; {len(result.errors)} refused")
        return errors.PARTIAL if result.errors else errors.OK

    return runtime.with_redis(cfg, work)


def cmd_invoices_import(args: argparse.Namespace, cfg: Settings) -> int:
    """import CSV invoices: code,number[,date,amount,state,...]"""
    return _load(args, cfg, "load_invoices_csv", "import")


def cmd_status_import(args: argparse.Namespace, cfg: Settings) -> int:
    """import CSV business progress: reference,status"""
    return _load(args, cfg, "load_status_csv", "import-status")


def cmd_replies_run(args: argparse.Namespace, cfg: Settings) -> int:
    """answer taxpayers' messages until interrupted"""
    from taxsms.replies.providers import HttpProvider, Provider, RedisProvider
    from taxsms.replies.service import ReplyService

    config = cfg.reply_config()
    url = cfg.replies.provider_url

    async def work(redis: Redis, keys: Keys) -> int:
        runtime.started("replies", cfg, unit=config.unit, consumer=config.consumer, provider=url or "redis")
        http = HttpProvider(url, timeout_s=cfg.replies.provider_timeout_s) if url else None
        provider: Provider = http or RedisProvider(redis, keys)
        service = ReplyService(redis, keys, provider, config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.stop)
        try:
            await service.run()
        finally:
            if http is not None:
                await http.close()
        return 0

    return runtime.with_redis(cfg, work)
