"""`taxsms units|operator|system|campaign|quota|audit|report ...`: governance from the command line.

`add_commands(subparsers)` adds the commands; each sub-command sets `args.handler`, called by taxsms.cli as
`handler(args, cfg) -> exit code` (0 done, 1 refused or check failed, 2 bad input). The acting operator is
`--as ID`, its password from $TAXSMS_OPERATOR_PASSWORD (or the file named by $TAXSMS_OPERATOR_PASSWORD_FILE),
else a prompt. Listings mask phones and names and escape control characters.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from taxsms import runtime, settings
from taxsms.governance.accounting import Accounting
from taxsms.governance.audit import Action, AuditLog
from taxsms.governance.campaigns import CampaignBook
from taxsms.governance.errors import NotFound, PermissionDenied
from taxsms.governance.operators import Operator, OperatorBook, Role
from taxsms.governance.policy import Principal, PrincipalKind
from taxsms.governance.registry import PrincipalBook, PrincipalRecord, load_review, upstream_kinds
from taxsms.governance.units import Level, UnitError, UnitSuspensions, UnitTree, load_units, save_units
from taxsms.privacy import mask_name
from taxsms.queue.jobs import CHINA, Kind
from taxsms.queue.keys import Keys
from taxsms.settings import Settings
from taxsms.templates.review import ContentRejected

Handler = Callable[[argparse.Namespace, Settings], int]
REFUSED, BAD_INPUT = 1, 2


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `units`, `operator`, `campaign`, `audit` and `report` to the `taxsms` parser."""
    target = runtime.redis_arguments()
    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument("--as", dest="actor", metavar="OPERATOR_ID", help="the acting operator's staff code")
    acting.add_argument("--password", help="its password (better: $TAXSMS_OPERATOR_PASSWORD, or a prompt)")
    both = [target, acting]

    units_sub = runtime.group(subparsers, "units", "the unit tree: province, cities, counties, sub-bureaus")
    load = units_sub.add_parser("load", parents=both, help="replace the unit tree from a TOML file")
    load.add_argument("file", type=Path)
    load.set_defaults(handler=cmd_units_load)
    show = units_sub.add_parser("list", parents=[target], help="print the unit tree")
    show.set_defaults(handler=cmd_units_list)
    unit_suspend = units_sub.add_parser("suspend", parents=both, help="suspend a unit (by an admin of a unit above)")
    unit_suspend.add_argument("unit")
    unit_suspend.add_argument("--reason", required=True)
    unit_suspend.set_defaults(handler=cmd_units_suspend)
    unit_reinstate = units_sub.add_parser("reinstate", parents=both, help="lift a unit's suspension")
    unit_reinstate.add_argument("unit")
    unit_reinstate.set_defaults(handler=cmd_units_reinstate)

    op_sub = runtime.group(subparsers, "operator", "real-name operators: add, suspend, reinstate, list")
    add = op_sub.add_parser("add", parents=both, help="add an operator (password: $TAXSMS_NEW_PASSWORD or prompt)")
    add.add_argument("id", help="staff code")
    add.add_argument("--name", required=True, help="real name")
    add.add_argument("--unit", help="unit id (with --bootstrap: the province)")
    add.add_argument("--role", action="append", default=[], choices=[r.value for r in Role], help="repeatable")
    add.add_argument("--new-password", help="the new operator's password (better: $TAXSMS_NEW_PASSWORD)")
    add.add_argument("--bootstrap", action="store_true", help="create the first province admin (no --as)")
    add.set_defaults(handler=cmd_operator_add)
    _moves(op_sub, "operator", OPERATOR_MOVES, both)
    listing = op_sub.add_parser("list", parents=[target], help="list operators (names masked)")
    listing.add_argument("--unit", help="only this unit and the units below it")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_operator_list)

    sys_sub = runtime.group(subparsers, "system", "registered intake systems (the principals of raw intake)")
    sys_add = sys_sub.add_parser("add", parents=both, help="register an upstream system for a unit and kinds")
    sys_add.add_argument("name")
    sys_add.add_argument("--unit", required=True)
    sys_add.add_argument("--kind", action="append", required=True, choices=[k.value for k in Kind])
    sys_add.set_defaults(handler=cmd_system_add)
    sys_remove = sys_sub.add_parser("remove", parents=both, help="remove a registered system")
    sys_remove.add_argument("name")
    sys_remove.set_defaults(handler=cmd_system_remove)
    sys_list = sys_sub.add_parser("list", parents=[target], help="registered systems and API tokens, with keepers")
    sys_list.set_defaults(handler=cmd_system_list)

    quota_sub = runtime.group(subparsers, "quota", "units' monthly segment quotas")
    quota_set = quota_sub.add_parser("set", parents=both, help="set a unit's monthly quota (segments; 'none' removes)")
    quota_set.add_argument("unit")
    quota_set.add_argument("segments")
    quota_set.set_defaults(handler=cmd_quota_set)
    quota_show = quota_sub.add_parser("show", parents=[target], help="a unit's quota and this month's use")
    quota_show.add_argument("unit")
    quota_show.set_defaults(handler=cmd_quota_show)

    camp_sub = runtime.group(subparsers, "campaign", "notices to many recipients, sent after approval")
    create = camp_sub.add_parser("create", parents=both, help="create a campaign, pending approval")
    create.add_argument("--name", required=True)
    create.add_argument("--recipients", type=Path, help="CSV file of phone,unit rows")
    create.add_argument("--audience", choices=["taxpayers", "staff"], help="recipients from the directory")
    create.add_argument("--unit", help="the audience's unit (and the units below it)")
    create.add_argument("--subscribed", action="store_true", help="taxpayers: only phones with consent")
    create.add_argument("--unfiled", help="taxpayers: only those who have not filed TAX:PERIOD (e.g. VAT:2026-11)")
    text = create.add_mutually_exclusive_group(required=True)
    text.add_argument("--text")
    text.add_argument("--text-file", type=Path)
    create.add_argument("--kind", choices=["notice", "internal"], default="notice")
    create.add_argument("--not-before", help="ISO 8601 (no offset = China time)")
    create.add_argument("--expires-at", help="ISO 8601 (no offset = China time)")
    create.set_defaults(handler=cmd_campaign_create)
    approve = camp_sub.add_parser("approve", parents=both, help="approve a campaign and enqueue its messages")
    approve.add_argument("id")
    approve.set_defaults(handler=cmd_campaign_approve)
    _moves(camp_sub, "campaign", CAMPAIGN_MOVES, both)
    camp_list = camp_sub.add_parser("list", parents=[target], help="the newest campaigns")
    camp_list.add_argument("--count", type=int, default=20)
    camp_list.add_argument("--json", action="store_true")
    camp_list.set_defaults(handler=cmd_campaign_list)
    status = camp_sub.add_parser("status", parents=[target], help="a campaign's record and its messages' states")
    status.add_argument("id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_campaign_status)

    audit_sub = runtime.group(subparsers, "audit", "the hash-chained audit log")
    verify = audit_sub.add_parser("verify", parents=[target], help="check every link of the chain")
    verify.set_defaults(handler=cmd_audit_verify)
    for name, helptext in (("list", "read the log (newest last)"), ("export", "write the log as JSON lines")):
        reading = audit_sub.add_parser(name, parents=[target], help=helptext)
        reading.add_argument("--since", help="ISO 8601 time (no offset = China time)")
        reading.add_argument("--unit", help="entries about this unit")
        reading.add_argument("--operator", help="entries by this operator (or principal)")
        reading.add_argument("--action", help="an action, or a prefix ending in '.' (campaign.)")
        if name == "list":
            reading.add_argument("--limit", type=int, default=50, help="the newest N (default 50)")
            reading.add_argument("--json", action="store_true")
        else:
            reading.add_argument("--output", type=Path, help="file to write (default: standard output)")
        reading.set_defaults(handler=cmd_audit_list if name == "list" else cmd_audit_export)

    report_sub = runtime.group(subparsers, "report", "reports")
    usage = report_sub.add_parser("usage", parents=[target], help="segments sent per unit and kind in a month")
    usage.add_argument("--month", required=True, help="YYYY-MM")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(handler=cmd_report_usage)


# -- plumbing --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    """A change the acting operator makes to an operator or a campaign `ID`: the book's method of that name."""

    help: str
    done: str  # what is printed, after the thing's name
    reason: bool = False  # takes --reason


OPERATOR_MOVES = {
    "suspend": Move("suspend an operator", "suspended", reason=True),
    "confirm": Move("confirm a new account (by the level above)", "confirmed"),
    "reinstate": Move("reinstate a suspended operator", "reinstated"),
}
CAMPAIGN_MOVES = {
    "reject": Move("reject a campaign (nothing is sent)", "rejected; nothing will be sent", reason=True),
    "cancel": Move(
        "cancel a campaign: nothing more of it is sent", "cancelled; what was not sent yet ends rejected", reason=True
    ),
}


def _moves(sub: argparse._SubParsersAction, what: str, moves: dict[str, Move], parents: list[Any]) -> None:  # type: ignore[type-arg]
    for name, move in moves.items():
        parser = sub.add_parser(name, parents=parents, help=move.help)
        parser.add_argument("id")
        if move.reason:
            parser.add_argument("--reason", required=True)
        parser.set_defaults(handler=_command(f"{what} {name}")(partial(_move, what, name, move)))


async def _move(what: str, name: str, move: Move, ctx: _Context, args: argparse.Namespace) -> int:
    """Log the acting operator in and make the move on `args.id`; say what was done."""
    book = ctx.operators if what == "operator" else ctx.campaigns
    done = await getattr(book, name)(await ctx.actor(args), args.id, *([args.reason] if move.reason else []))
    if what == "operator":
        print(f"{move.done} operator {done.id} of {ctx.tree.describe(done.unit)}")
    else:
        print(f"campaign {args.id} {move.done}")
    return 0


def _printable(text: str) -> str:
    """`text` with control characters escaped, so a listing cannot drive the terminal."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _secret(given: str | None, env: str, prompt: str) -> str:
    value = given or settings.secret(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise ValueError(f"give the password ({env} or the command-line option)")
    return getpass.getpass(prompt)


class _Context:
    """What a command works with: Redis, keys, the unit tree, the books."""

    def __init__(self, redis: Redis, keys: Keys, tree: UnitTree) -> None:
        self.redis, self.keys, self.tree = redis, keys, tree
        self.audit = AuditLog(redis, keys)
        self.operators = OperatorBook(redis, keys, tree, audit=self.audit)
        self.campaigns = CampaignBook(redis, keys, tree, self.operators, audit=self.audit)

    async def actor(self, args: argparse.Namespace) -> Operator:
        if not args.actor:
            raise PermissionDenied("give the acting operator: --as OPERATOR_ID")
        password = _secret(args.password, "TAXSMS_OPERATOR_PASSWORD", f"password for {args.actor}: ")
        return await self.operators.login(args.actor, password)

    async def admin_above(self, args: argparse.Namespace, unit: str, what: str) -> Operator:
        """The acting operator, if it is an active admin of a unit above `unit` (a province admin for the province)."""
        op = await self.actor(args)
        self.tree.get(unit)
        above = self.tree.above(op.unit, unit) or (unit == op.unit == self.tree.root)
        if not (op.active and op.is_admin and above):
            raise PermissionDenied(f"operator {op.id} of {self.tree.describe(op.unit)} may not {what} {unit}")
        return op

    async def admin_over(self, args: argparse.Namespace, unit: str, what: str) -> Operator:
        """The acting operator, if it is an active admin of `unit` or a unit above it."""
        op = await self.actor(args)
        self.tree.get(unit)
        if not (op.active and op.is_admin and self.tree.contains(op.unit, unit)):
            raise PermissionDenied(f"operator {op.id} of {self.tree.describe(op.unit)} may not {what} {unit}")
        return op


Body = Callable[[_Context, argparse.Namespace], Coroutine[Any, Any, int]]


def _command(name: str) -> Callable[[Body], Handler]:
    """Make `body(ctx, args)` the handler of `taxsms NAME`: run with a context, refusals and bad input become
    messages and exit codes."""

    def handler_of(body: Body) -> Handler:
        def handler(args: argparse.Namespace, cfg: Settings) -> int:
            async def go(redis: Redis, keys: Keys) -> int:
                return await body(_Context(redis, keys, await load_units(redis, keys)), args)

            try:
                return runtime.with_redis(cfg, go)
            except (PermissionDenied, ContentRejected) as error:
                print(f"taxsms {name}: refused: {error}", file=sys.stderr)
                return REFUSED
            except (ValueError, NotFound, UnitError, OSError) as error:
                print(f"taxsms {name}: {error}", file=sys.stderr)
                return BAD_INPUT

        return handler

    return handler_of


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# -- units -----------------------------------------------------------------------------------------------


@_command("units load")
async def cmd_units_load(ctx: _Context, args: argparse.Namespace) -> int:
    tree = UnitTree.from_file(args.file)
    actor = "bootstrap"
    if len(ctx.tree):
        op = await ctx.actor(args)
        if not (op.is_admin and op.unit == ctx.tree.root):
            raise PermissionDenied(f"operator {op.id}: only a province admin may replace the unit tree")
        actor = op.id
    await save_units(ctx.redis, ctx.keys, tree)
    await ctx.audit.append(actor, Action.UNITS_LOAD, str(args.file), {"units": len(tree), "root": tree.root})
    print(f"loaded {len(tree)} units under {tree.describe(tree.root)}")
    return 0


@_command("units list")
async def cmd_units_list(ctx: _Context, args: argparse.Namespace) -> int:
    for unit in ctx.tree.subtree(ctx.tree.root) if ctx.tree.root else []:
        print(f"{'  ' * unit.level.rank}{unit.id}  {unit.name}  ({unit.level})")
    return 0


@_command("units suspend")
async def cmd_units_suspend(ctx: _Context, args: argparse.Namespace) -> int:
    op = await ctx.admin_above(args, args.unit, "suspend")
    await UnitSuspensions(ctx.redis, ctx.keys, ctx.tree).suspend(args.unit, args.reason, op.id, _now())
    await ctx.audit.append(op.id, Action.UNIT_SUSPEND, args.unit, {"unit": args.unit, "reason": args.reason})
    print(f"suspended {ctx.tree.describe(args.unit)} and the units below it: their queued jobs end rejected")
    return 0


@_command("units reinstate")
async def cmd_units_reinstate(ctx: _Context, args: argparse.Namespace) -> int:
    op = await ctx.admin_above(args, args.unit, "reinstate")
    if not await UnitSuspensions(ctx.redis, ctx.keys, ctx.tree).reinstate(args.unit):
        raise ValueError(f"{ctx.tree.describe(args.unit)} is not suspended")
    await ctx.audit.append(op.id, Action.UNIT_REINSTATE, args.unit, {"unit": args.unit})
    print(f"reinstated {ctx.tree.describe(args.unit)}")
    return 0


# -- operators -------------------------------------------------------------------------------------------


@_command("operator add")
async def cmd_operator_add(ctx: _Context, args: argparse.Namespace) -> int:
    password = _secret(args.new_password, "TAXSMS_NEW_PASSWORD", f"new password for {args.id}: ")
    if args.bootstrap:
        if args.unit and args.unit != ctx.tree.root:
            raise ValueError("the first admin belongs to the province")
        op = await ctx.operators.bootstrap(args.id, args.name, password)
    else:
        if not args.unit or not args.role:
            raise ValueError("give --unit and at least one --role")
        op = await ctx.operators.add(await ctx.actor(args), args.id, args.name, args.unit, args.role, password)
    print(
        f"added operator {op.id} ({mask_name(op.name)}) of {ctx.tree.describe(op.unit)}: {', '.join(sorted(op.roles))}"
    )
    return 0


@_command("operator list")
async def cmd_operator_list(ctx: _Context, args: argparse.Namespace) -> int:
    rows = [
        {
            "id": _printable(op.id),
            "name": _printable(mask_name(op.name)),
            "unit": op.unit,
            "roles": sorted(op.roles),
            "status": op.status,
            "confirmed": op.confirmed,
        }
        for op in await ctx.operators.all(args.unit)
    ]
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        print(f"{row['id']:<12} {row['name']:<8} {row['unit']:<16} {row['status']:<10} {','.join(row['roles'])}")
    return 0


# -- campaigns -------------------------------------------------------------------------------------------


def _recipients(path: Path) -> list[tuple[str, str]]:
    """(phone, unit) rows of a CSV file; a header row (phone,unit) is skipped; a row without a unit takes the
    recipient's unit from the directory."""
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for number, row in enumerate(csv.reader(fh), 1):
            cells = [cell.strip() for cell in row]
            if not any(cells) or (number == 1 and cells[0].lower() == "phone"):
                continue
            if len(cells) > 2:
                raise ValueError(f"{path}:{number}: expected phone,unit (or phone alone: its unit from the directory)")
            rows.append((cells[0], cells[1] if len(cells) == 2 else ""))
    return rows


@_command("campaign create")
async def cmd_campaign_create(ctx: _Context, args: argparse.Namespace) -> int:
    text = args.text if args.text is not None else args.text_file.read_text(encoding="utf-8")
    if not args.recipients and not args.audience:
        raise ValueError("give --recipients FILE or --audience (taxpayers or staff) --unit UNIT")
    recipients = _recipients(args.recipients) if args.recipients else []
    audience = None
    if args.audience:
        from taxsms.directory.audiences import Audience, AudienceKind
        from taxsms.directory.deadlines import Filing

        if not args.unit:
            raise ValueError("--audience needs --unit")
        unfiled = Filing.parse(args.unfiled) if args.unfiled else None
        audience = Audience(AudienceKind(args.audience), args.unit, args.subscribed, unfiled)
    actor = await ctx.actor(args)
    campaign = await ctx.campaigns.create(
        actor,
        text,
        recipients,
        name=args.name,
        kind=args.kind,
        not_before=_when(args.not_before),
        expires_at=_when(args.expires_at),
        review=await load_review(ctx.redis, ctx.keys),
        audience=audience,
    )
    print(f"campaign {campaign.id}: {campaign.recipients} recipients, pending approval")
    if campaign.audience:
        print(f"audience: {campaign.audience}; e.g. {campaign.sample}")
    print(f"text: {campaign.text}")
    return 0


@_command("campaign approve")
async def cmd_campaign_approve(ctx: _Context, args: argparse.Namespace) -> int:
    added = await ctx.campaigns.approve(await ctx.actor(args), args.id)
    print(f"campaign {args.id} approved: {added} messages enqueued")
    return 0


@_command("campaign status")
async def cmd_campaign_status(ctx: _Context, args: argparse.Namespace) -> int:
    import msgspec

    status = await ctx.campaigns.status(args.id)
    record = msgspec.to_builtins(status.campaign)
    if args.json:
        _print_json({"campaign": record, "counts": status.counts})
        return 0
    for name, value in record.items():
        print(f"{name:>12}  {value}")
    for state, count in sorted(status.counts.items()):
        print(f"{state:>20}  {count}")
    return 0


@_command("campaign list")
async def cmd_campaign_list(ctx: _Context, args: argparse.Namespace) -> int:
    import msgspec

    found = await ctx.campaigns.recent(args.count)
    if args.json:
        _print_json([msgspec.to_builtins(c) for c in found])
        return 0
    for c in found:
        name = _printable(c.name)
        print(f"{c.id}  {c.state:<16} {c.unit:<14} {c.creator:<10} {c.recipients:>7}  {name}")
    return 0


# -- audit and reports -----------------------------------------------------------------------------------


@_command("audit verify")
async def cmd_audit_verify(ctx: _Context, args: argparse.Namespace) -> int:
    result = await ctx.audit.verify()
    if result.ok:
        print(f"audit log intact: {result.entries} entries")
        return 0
    where = f" (stream id {result.entry_id})" if result.entry_id else ""
    print(f"audit log BROKEN at entry {result.broken_at}{where}: {result.reason}", file=sys.stderr)
    print(f"{result.entries} entries before it are intact", file=sys.stderr)
    return REFUSED


@_command("report usage")
async def cmd_report_usage(ctx: _Context, args: argparse.Namespace) -> int:
    report = await Accounting(ctx.redis, ctx.keys, ctx.tree).report(args.month)
    data = report.to_dict(ctx.tree)
    if args.json:
        _print_json(data)
        return 0
    print(f"segments sent in {args.month} (totals include the units below)")
    for row in data["units"]:
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(row["total"].items()) if k != "total")
        indent = "  " * Level(row["level"]).rank
        print(f"{indent}{row['name']} ({row['unit']}): {row['total']['total']:,}" + (f"  [{kinds}]" if kinds else ""))
    for unit, kinds in data["unknown_units"].items():
        print(f"unknown unit {unit}: {sum(kinds.values()):,}")
    return 0


async def _audit_entries(ctx: _Context, args: argparse.Namespace) -> list[Any]:
    return await ctx.audit.select(
        since=args.since or "",
        unit=args.unit or "",
        operator=args.operator or "",
        action=args.action or "",
        limit=getattr(args, "limit", None),
    )


@_command("audit list")
async def cmd_audit_list(ctx: _Context, args: argparse.Namespace) -> int:
    entries = await _audit_entries(ctx, args)
    if args.json:
        _print_json([entry.to_dict() for entry in entries])
        return 0
    for entry in entries:
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
        print(_printable(f"{entry.seq:>6} {entry.at} {entry.actor:<14} {entry.action:<18} {entry.subject}  {details}"))
    return 0


@_command("audit export")
async def cmd_audit_export(ctx: _Context, args: argparse.Namespace) -> int:
    entries = await _audit_entries(ctx, args)
    lines = "".join(json.dumps(entry.to_dict() | {"prev": entry.prev}, ensure_ascii=False) + "\n" for entry in entries)
    if args.output:
        args.output.write_text(lines, encoding="utf-8")
        print(f"exported {len(entries)} entries to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(lines)
    return 0


# -- systems and quotas ----------------------------------------------------------------------------------


@_command("system add")
async def cmd_system_add(ctx: _Context, args: argparse.Namespace) -> int:
    op = await ctx.admin_over(args, args.unit, "register a system for")
    kinds = frozenset(upstream_kinds(args.kind))
    if not _valid_name(args.name):
        raise ValueError(f"system name {args.name!r}: letters, digits, '-', '_' and '.'")
    principal = Principal(PrincipalKind.SYSTEM, args.name, args.unit, kinds, keeper=op.id)  # it answers to op
    await PrincipalBook(ctx.redis, ctx.keys).register(principal, args.name, at=_now())
    details = {"unit": args.unit, "kinds": sorted(kinds)}
    await ctx.audit.append(op.id, Action.SYSTEM_ADD, principal.tag, details)
    print(f"registered {principal.tag} for {ctx.tree.describe(args.unit)}: {', '.join(sorted(kinds))}")
    print(f'its raw intake entries carry "principal": "{principal.tag}"')
    return 0


@_command("system remove")
async def cmd_system_remove(ctx: _Context, args: argparse.Namespace) -> int:
    book = PrincipalBook(ctx.redis, ctx.keys)
    tag = f"{PrincipalKind.SYSTEM}:{args.name}"
    found = await book.get(tag)
    if found is None:
        raise NotFound(f"no registered system {args.name!r}")
    op = await ctx.admin_over(args, found.unit, "remove a system of")
    await book.remove(tag)
    await ctx.audit.append(op.id, Action.SYSTEM_REMOVE, tag, {"unit": found.unit})
    print(f"removed {tag}")
    return 0


@_command("system list")
async def cmd_system_list(ctx: _Context, args: argparse.Namespace) -> int:
    """Each registered system and API token with its keeper (the operator it answers to), and those without."""
    operators = {op.id: op for op in await ctx.operators.all()}
    records = await PrincipalBook(ctx.redis, ctx.keys).all()
    unkept = 0
    for record in records:
        keeper, kept = _keeper(record, operators)
        unkept += not kept
        tag, kinds = f"{record.kind}:{record.id}", ",".join(record.kinds)
        print(_printable(f"{tag:<28} {record.unit:<14} {kinds}  {record.name}  keeper: {keeper}"))
    if unkept:
        print(
            f"{unkept} of {len(records)} answer to no operator: re-register them (taxsms system add; taxsms "
            "api-token create, then revoke the old token) so that the suspension rule applies"
        )
    return 0


def _keeper(record: PrincipalRecord, operators: dict[str, Operator]) -> tuple[str, bool]:
    """Who a system or token answers to, as `system list` shows it, and whether that is an operator (so the
    suspension rule applies, see policy.keeper_suspended)."""
    if not record.created_by:
        made = "registered" if record.kind is PrincipalKind.SYSTEM else "issued"
        return f"none recorded ({made} before keepers were kept; the suspension rule cannot apply)", False
    op = operators.get(record.created_by)
    if op is None:
        return f"{record.created_by} (not an operator; the suspension rule cannot apply)", False
    return (op.id if op.active else f"{op.id} (suspended: it sends nothing until they are reinstated)"), True


def _valid_name(name: str) -> bool:
    return bool(name) and all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in name)


@_command("quota set")
async def cmd_quota_set(ctx: _Context, args: argparse.Namespace) -> int:
    op = await ctx.admin_above(args, args.unit, "set the quota of")
    segments = None if args.segments == "none" else int(args.segments)
    accounting = Accounting(ctx.redis, ctx.keys, ctx.tree)
    before = await accounting.get_quota(args.unit)
    await accounting.set_quota(args.unit, segments)
    details = {"unit": args.unit, "segments": segments, "before": before}
    await ctx.audit.append(op.id, Action.QUOTA_SET, args.unit, details)
    shown = "no quota" if segments is None else f"{segments:,} segments a month"
    print(f"{ctx.tree.describe(args.unit)}: {shown}")
    return 0


@_command("quota show")
async def cmd_quota_show(ctx: _Context, args: argparse.Namespace) -> int:
    check = await Accounting(ctx.redis, ctx.keys, ctx.tree).check_quota(args.unit, f"{_month()}", 0)
    if check.quota is None:
        print(f"{ctx.tree.describe(args.unit)}: no quota ({_month()})")
    else:
        left = max(check.quota - check.used, 0)
        used = f"{check.used:,} of {check.quota:,} segments used in {_month()}"
        print(f"{ctx.tree.describe(args.unit)}: {used}, {left:,} left")
    return 0


def _now() -> float:
    import time

    return time.time()


def _month() -> str:
    return datetime.now(CHINA).strftime("%Y-%m")
