"""`taxsms directory ...`, `taxsms filings ...` and `taxsms reminders ...`.

Names, taxpayer ids and phone numbers are masked in everything printed. Exit codes (taxsms.errors): 0 done,
5 an import with refused rows (each reported with its line) or a plan with jobs its sender may not send
(named on stderr; the rest enqueued), 1 not found or out of scope, 2 bad input
(a bad id or period, a year without holiday data) or a reminder plan that cannot finish in time.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime
from typing import Any

from redis.asyncio import Redis

from taxsms import errors, runtime
from taxsms.directory.deadlines import Filing, deadline
from taxsms.directory.directory import Change, Directory, Origin
from taxsms.directory.ids import validate_taxpayer_id
from taxsms.directory.imports import parse_phones
from taxsms.directory.records import DirectoryError, Taxpayer, staff, taxpayer
from taxsms.governance.units import UnitTree, load_units
from taxsms.holidays import Calendar
from taxsms.privacy import mask_taxpayer_id
from taxsms.queue.jobs import CHINA
from taxsms.queue.keys import Keys
from taxsms.replies.subscriptions import How
from taxsms.settings import Settings

SHOWN = 10  # refused jobs of a plan named on stderr


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `directory`, `filings` and `reminders` to the `taxsms` parser."""
    sub = runtime.group(subparsers, "directory", "the taxpayer and staff directory")
    runtime.import_command(sub, "import", cmd_import, operator="who imports (recorded in the consent trail)")
    put = runtime.command(sub, "put", cmd_put)
    put.add_argument("taxpayer_id")
    put.add_argument("--name", required=True)
    put.add_argument("--unit", required=True, help="the county or sub-bureau in charge")
    put.add_argument("--phones", required=True, help="phone:role[:subscribed];... (roles legal, finance, agent)")
    runtime.change_options(put)
    remove = runtime.command(sub, "remove", cmd_remove)
    remove.add_argument("taxpayer_id")
    runtime.change_options(remove)
    staff_cmd = runtime.command(sub, "put-staff", cmd_put_staff)
    staff_cmd.add_argument("code")
    staff_cmd.add_argument("--name", required=True)
    staff_cmd.add_argument("--unit", required=True)
    staff_cmd.add_argument("--phone", required=True)
    show = runtime.command(sub, "show", cmd_show)
    show.add_argument("taxpayer_id")
    listing = runtime.command(sub, "list", cmd_list)
    listing.add_argument("--unit", required=True, help="this unit and the units below it")
    listing.add_argument("--staff", action="store_true")
    listing.add_argument("--limit", type=int, default=50)

    fsub = runtime.group(subparsers, "filings", "filing status and deadlines")
    runtime.import_command(fsub, "import", cmd_filings_import)
    dl = runtime.command(fsub, "deadline", cmd_deadline, redis=False)
    dl.add_argument("filing")
    dl.add_argument("--calendar", dest="calendar_file", help="the bureau's calendar file (TOML, see taxsms.holidays)")

    rsub = runtime.group(subparsers, "reminders", "automatic filing reminders and overdue notices")
    rplan = runtime.command(rsub, "plan", cmd_reminders_plan)
    _planning_options(rplan)
    rplan.add_argument("--days-before", type=int, default=3, help="working days before the deadline (default 3)")
    rplan.add_argument("--unit", help="only this unit and the units below it (default: the sender's unit)")
    rplan.add_argument("--token", help="send as this API token (default: $TAXSMS_TOKEN)")
    rplan.add_argument("--as", dest="actor", help="send as this operator (password: $TAXSMS_OPERATOR_PASSWORD)")
    overdue = runtime.command(rsub, "overdue", cmd_reminders_overdue)
    _planning_options(overdue)
    overdue.add_argument(
        "--operator", required=True, help="the collection office's operator who signs them (password in the env)"
    )
    overdue.add_argument("--file-by", required=True, help="the date the notice asks taxpayers to file by")


def _planning_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tax", required=True, help="tax type, e.g. VAT")
    parser.add_argument("--period", required=True, help="YYYY-MM or YYYY-Qn")
    parser.add_argument("--tps", dest="smpp.tps", help="segments/s of the SMSC link (default: the setting smpp.tps)")
    parser.add_argument("--calendar", dest="calendar_file", help="the bureau's calendar file (TOML, taxsms.holidays)")
    parser.add_argument("--start", help="when sending starts, ISO 8601 (default now; no offset = China time)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, enqueue nothing")


async def _tree(redis: Redis, keys: Keys) -> UnitTree:
    tree = await load_units(redis, keys)
    if not len(tree):
        raise DirectoryError("no unit tree loaded: run `taxsms units load FILE` first")
    return tree


# -- directory -----------------------------------------------------------------------------------------------


@runtime.redis_command
async def cmd_import(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """import taxpayers (taxpayer_id,name,unit,phones) or staff (staff_code,...)"""
    from taxsms.directory.imports import import_file

    started = time.monotonic()
    try:
        report = await import_file(Directory(redis, keys), await _tree(redis, keys), args.file,
                                   operator=args.operator)  # fmt: skip
    except OSError as error:
        return runtime.fail("directory import", error)
    runtime.print_refused(report.errors)
    print(f"{report.rows:,} {report.kind} rows in {time.monotonic() - started:.1f}s: {report.stored:,} stored, "
          f"{report.failed:,} refused")  # fmt: skip
    return errors.PARTIAL if report.failed else errors.OK


@runtime.redis_command
async def cmd_put(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """add or replace one taxpayer"""
    contacts, consent = parse_phones(args.phones)
    record = taxpayer(await _tree(redis, keys), args.taxpayer_id, args.name, args.unit, contacts)
    origin = Origin(How.STAFF, args.operator, args.reason)
    changed = await Directory(redis, keys).apply([Change(record, consent, origin)], time.time())
    print(f"taxpayer {mask_taxpayer_id(record.id)}: {'stored' if changed else 'unchanged'}")
    return 0


async def _known(directory: Directory, taxpayer_id: str) -> Taxpayer | None:
    """The taxpayer's record; None (said on stderr) if the directory has none."""
    record = await directory.get(validate_taxpayer_id(taxpayer_id))
    if record is None:
        print(f"taxpayer {mask_taxpayer_id(taxpayer_id)}: not in the directory", file=sys.stderr)
    return record


@runtime.redis_command
async def cmd_remove(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """remove one taxpayer"""
    directory = Directory(redis, keys)
    if (record := await _known(directory, args.taxpayer_id)) is None:
        return 1
    await directory.apply([Change(record, {}, Origin(How.STAFF, args.operator, args.reason), delete=True)],
                          time.time())  # fmt: skip
    print(f"taxpayer {mask_taxpayer_id(record.id)}: removed")
    return 0


@runtime.redis_command
async def cmd_put_staff(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """add or replace one staff member"""
    member = staff(await _tree(redis, keys), args.code, args.name, args.unit, args.phone)
    await Directory(redis, keys).put_staff([member])
    print(f"staff {member.code}: stored")
    return 0


@runtime.redis_command
async def cmd_show(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """one taxpayer (masked)"""
    directory = Directory(redis, keys)
    if (record := await _known(directory, args.taxpayer_id)) is None:
        return 1
    masked = record.masked()
    print(f"{masked['id']} {masked['name']} ({record.unit})")
    consent = await directory.consent.records(record.phones)
    for contact, shown in zip(record.contacts, masked["phones"], strict=True):  # type: ignore[call-overload]
        state = consent[contact.phone].taxpayers.get(record.id, "?") if contact.phone in consent else "?"
        said = {"1": "subscribed", "0": "unsubscribed"}.get(state, "never asked")
        print(f"  {shown['phone']} {contact.role.value}: {said}")
    return 0


@runtime.redis_command
async def cmd_list(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """taxpayers or staff of a unit (masked)"""
    tree = await _tree(redis, keys)
    units = {unit.id for unit in tree.subtree(args.unit)}
    directory, shown = Directory(redis, keys), 0
    if args.staff:
        for member in (await directory.staff(units))[: args.limit]:
            m = member.masked()
            print(f"{m['code']} {m['name']} {m['unit']} {m['phone']}")
            shown += 1
        return 0 if shown else 1
    async for batch in directory.taxpayers(units):
        for record in batch:
            if shown >= args.limit:
                return 0
            m = record.masked()
            phones = ", ".join(f"{p['phone']} {p['role']}" for p in m["phones"])  # type: ignore[attr-defined]
            print(f"{m['id']} {m['name']} {m['unit']} {phones}")
            shown += 1
    return 0 if shown else 1


# -- filings -------------------------------------------------------------------------------------------------


@runtime.redis_command
async def cmd_filings_import(args: argparse.Namespace, redis: Redis, keys: Keys) -> int:
    """import filing events: taxpayer_id,tax,period[,filed_at]"""
    from taxsms.directory.filings import FilingBook

    try:
        report, unknown = await FilingBook(redis, keys, Directory(redis, keys)).import_csv(args.file)
    except OSError as error:
        return runtime.fail("filings import", error)
    runtime.print_refused(report.errors)
    note = f" ({unknown:,} of taxpayers not in the directory)" if unknown else ""
    print(f"{report.rows:,} rows: {report.stored:,} filings recorded{note}, {report.failed:,} refused")
    return errors.PARTIAL if report.failed else errors.OK


def cmd_deadline(args: argparse.Namespace, cfg: Settings) -> int:
    """the filing deadline of TAX:PERIOD (e.g. VAT:2026-11)"""
    found = deadline(Filing.parse(args.filing), cfg.calendar())
    print(f"{found.filing}: {found.day:%Y-%m-%d} ({found.reason})")
    return 0


# -- reminders -----------------------------------------------------------------------------------------------


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, CHINA).strftime("%Y-%m-%d %H:%M")


def _print_plan(result: Any, tps: float) -> None:
    timeline = result.timeline
    what = "reminders" if result.kind == "filing_reminder" else "overdue notices"
    print(f"{result.filing}: deadline {result.deadline.day:%Y-%m-%d} ({result.deadline.reason})")
    print(f"{result.taxpayers:,} taxpayers: {result.filed:,} filed, {result.without_consent:,} unfiled without "
          f"consent; {len(result.jobs):,} {what} to send before {_when(result.send_by)}")  # fmt: skip
    print(f"at {tps:g} segments/s: link busy {result.needed_hours:.2f} h of {result.window_hours:.2f} h of send "
          f"window from {_when(result.start)}")  # fmt: skip
    for unit, line in sorted(timeline.groups.items()):
        span = f"{_when(line.first)} -> {_when(line.last)}"
        print(f"  {unit:<16} {line.jobs:>9,} jobs {line.segments:>9,} segments  {span}")
    if timeline.jobs:
        print(f"last message out at {_when(timeline.last_send)}")


def _planning(cfg: Settings) -> tuple[Any, Calendar, float]:
    if cfg.smpp.tps <= 0:
        raise DirectoryError("give the link's --tps (segments/s): the plan depends on it")
    return cfg.windows(), cfg.calendar(), cfg.smpp.tps


def _start_clock(args: argparse.Namespace) -> Any:
    """The planning clock: --start if given, else now."""
    if not args.start:
        return time.time
    moment = datetime.fromisoformat(args.start)
    start = (moment if moment.tzinfo else moment.replace(tzinfo=CHINA)).timestamp()
    return lambda: start


def _run_plan(args: argparse.Namespace, cfg: Settings, build: Any) -> int:
    """Build the plan, print it and, when it is feasible, enqueue the jobs its sender's admission lets through
    (those it refuses are named, and both outcomes audited, path 'reminders')."""
    from taxsms.governance.admission import Gate
    from taxsms.privacy import mask_text
    from taxsms.queue.store import JobStore
    from taxsms.templates.catalog import TemplateCatalog

    windows, calendar, tps = _planning(cfg)
    filing = Filing.of(args.tax, args.period)

    async def work(redis: Redis, keys: Keys) -> int:
        catalog = await TemplateCatalog.load_from_redis(redis, keys)
        if not len(catalog):
            catalog = TemplateCatalog.from_dir()
        directory = Directory(redis, keys)
        result = await build(directory, await _tree(redis, keys), catalog, filing, windows, calendar, tps, redis, keys)
        _print_plan(result, tps)
        if not result.feasible:
            print(
                f"REFUSED: {result.timeline.overdue + result.timeline.late:,} of {len(result.jobs):,} would go out "
                f"after {_when(result.send_by)}: they need {result.needed_hours:.2f} h of link time at {tps:g} "
                f"segments/s and the send window holds {result.window_hours:.2f} h before then; raise the TPS, "
                "start earlier or lower --days-before. Nothing enqueued.",
                file=sys.stderr,
            )
            return 2
        if args.dry_run:
            print("dry run: nothing enqueued")
            return 0
        gate, sender = Gate(redis, keys), result.sender
        admitted, refusals = await gate.admit_all(result.jobs, sender, "reminders")
        for refusal in refusals[:SHOWN]:
            print(f"refused {refusal.job_id}: {mask_text(str(refusal.error))}", file=sys.stderr)
        added = await JobStore(redis, keys).enqueue(admitted)
        await gate.record_sent(sender.tag, sender.unit, "reminders", added, len(admitted) - added)
        more = f" ({len(refusals) - SHOWN:,} more not shown)" if len(refusals) > SHOWN else ""
        refused = f"; {len(refusals):,} refused for {sender.tag}{more}" if refusals else ""
        print(f"{added:,} enqueued ({len(admitted) - added:,} already planned){refused}")
        return errors.PARTIAL if refusals else errors.OK

    return runtime.with_redis(cfg, work)


def cmd_reminders_plan(args: argparse.Namespace, cfg: Settings) -> int:
    """plan (and enqueue) reminders for the unfiled, subscribed taxpayers, sent as --token or --as"""
    from taxsms.directory.reminders import plan_reminders
    from taxsms.governance.enqueue import resolve_principal

    async def build(directory, tree, catalog, filing, windows, calendar, tps, redis, keys):  # type: ignore[no-untyped-def]
        # nothing anonymous: the sender logs in (or shows its token) before anything is planned
        sender = await resolve_principal(redis, keys, token=args.token or "", operator=args.actor or "")
        units = {unit.id for unit in tree.subtree(args.unit or sender.unit)}
        return await plan_reminders(directory, tree, catalog, filing, sender=sender, days_before=args.days_before,
                                    tps=tps, windows=windows, calendar=calendar, clock=_start_clock(args),
                                    units=units)  # fmt: skip

    return _run_plan(args, cfg, build)


def cmd_reminders_overdue(args: argparse.Namespace, cfg: Settings) -> int:
    """overdue-filing notices after the deadline (collection office)"""
    from taxsms.directory.reminders import plan_overdue
    from taxsms.governance.enqueue import operator_password
    from taxsms.governance.operators import OperatorBook

    file_by = date.fromisoformat(args.file_by)

    async def build(directory, tree, catalog, filing, windows, calendar, tps, redis, keys):  # type: ignore[no-untyped-def]
        # the notices are signed with this operator's name: only that operator, logged in (failures audited)
        operator = await OperatorBook(redis, keys, tree).login(args.operator, operator_password(args.operator))
        return await plan_overdue(directory, tree, catalog, filing, operator=operator,
                                  file_by=file_by, tps=tps, windows=windows, calendar=calendar,
                                  clock=_start_clock(args))  # fmt: skip

    return _run_plan(args, cfg, build)
