"""`taxsms template ...` and `taxsms review ...`: preview, list and load templates; check and load the term list.

`add_commands(subparsers)` adds both commands; each sub-command sets `args.handler`, called by taxsms.cli as
`handler(args, cfg) -> exit code` with the validated settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from taxsms import errors, runtime
from taxsms.settings import Settings


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `template {preview,list,load}` and `review {check,load}` to the `taxsms` parser."""
    template_sub = runtime.group(subparsers, "template", "message templates: preview, list, load into Redis")
    preview = runtime.command(template_sub, "preview", cmd_template_preview, redis=False)
    preview.add_argument("name")
    preview.add_argument("--var", action="append", default=[], metavar="K=V", help="a variable (repeatable)")
    preview.add_argument("--unit", required=True, help="the sending unit shown in 【】")
    preview.add_argument("--operator", default="", help="the operator's real name")
    _dir_option(preview)
    _terms_option(preview)
    _dir_option(runtime.command(template_sub, "list", cmd_template_list, redis=False))
    load = runtime.command(template_sub, "load", cmd_template_load)
    _dir_option(load)
    load.add_argument("--as", dest="actor", help="a province admin or publisher (password: $TAXSMS_OPERATOR_PASSWORD)")

    review_sub = runtime.group(subparsers, "review", "content review: check a text, load the forbidden-term list")
    check = runtime.command(review_sub, "check", cmd_review_check, redis=False)
    check.add_argument("text")
    _terms_option(check)
    review_load = runtime.command(review_sub, "load", cmd_review_load)
    review_load.add_argument("file", type=Path)
    review_load.add_argument("--as", dest="actor", help="the province admin (password: $TAXSMS_OPERATOR_PASSWORD)")
    review_load.add_argument(
        "--allow-shrink",
        action="store_true",
        help="load a list that is empty or under half the size of the one in force",
    )


def _dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, help="template directory (default: the shipped templates)")


def _terms_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--terms", type=Path, help="forbidden-term list file (default: the shipped list)")


def _catalog(args: argparse.Namespace, command: str) -> Any:
    """The catalog of --dir (the shipped one by default); None, said on stderr, if it does not load."""
    from taxsms.templates.catalog import DEFAULTS_DIR, TemplateCatalog, TemplateError

    try:
        return TemplateCatalog.from_dir(args.dir or DEFAULTS_DIR)
    except TemplateError as error:
        runtime.fail(command, error)
        return None


def _variables(pairs: list[str]) -> dict[str, str]:
    variables = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--var expects NAME=VALUE, got {pair!r}")
        variables[name.strip()] = value
    return variables


def cmd_template_preview(args: argparse.Namespace, cfg: Settings) -> int:
    """render a template and show its text, cost and review"""
    from taxsms.templates.catalog import DEFAULTS_DIR, Signature, TemplateCatalog, TemplateError
    from taxsms.templates.preview import preview, print_preview
    from taxsms.templates.review import ContentReview, ReviewListError

    try:
        catalog = TemplateCatalog.from_dir(args.dir or DEFAULTS_DIR)
        review = ContentReview.from_file(args.terms) if args.terms else None
        result = preview(catalog, args.name, _variables(args.var), Signature(args.unit, args.operator), review)
    except (TemplateError, ReviewListError, ValueError) as error:
        print(f"taxsms template preview: {error}", file=sys.stderr)
        return 2
    print_preview(result)
    return 0 if result.clean else 1


def cmd_template_list(args: argparse.Namespace, cfg: Settings) -> int:
    """list the templates"""
    from rich.console import Console
    from rich.table import Table

    if (catalog := _catalog(args, "template list")) is None:
        return errors.USAGE
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    for column in ("variables", "operator", "description"):
        table.add_column(column, overflow="fold")
    for template in catalog:
        signed = "yes" if template.sign_operator else "no"
        table.add_row(template.name, template.kind, ", ".join(template.variables), signed, template.description)
    Console().print(table)
    return 0


def cmd_template_load(args: argparse.Namespace, cfg: Settings) -> int:
    """check the template files and replace the catalog in Redis"""
    from taxsms.templates.catalog import DEFAULTS_DIR

    if (catalog := _catalog(args, "template load")) is None:
        return errors.USAGE

    async def save(redis: Any, keys: Any) -> str:
        from taxsms.governance.audit import Action
        from taxsms.governance.errors import PermissionDenied
        from taxsms.governance.registry import load_review

        actor, audit = await _province_operator(redis, keys, args.actor, {"admin", "publisher"})
        review = await load_review(redis, keys)
        found = [(t.name, m.term) for t in catalog for m in review.check(t.body)]
        details = {"templates": len(catalog), "source": str(args.dir or DEFAULTS_DIR)}
        if found:
            await audit.append(actor, Action.TEMPLATE_CHANGE, "load", details | {"refused": found[:10]})
            raise PermissionDenied(f"templates with forbidden content: {found[:10]}")
        await catalog.save_to_redis(redis, keys)
        await audit.append(actor, Action.TEMPLATE_CHANGE, "load", details)
        return str(keys.templates)

    where = runtime.with_redis(cfg, save)
    print(f"loaded {len(catalog)} templates into {where}")
    return 0


def cmd_review_check(args: argparse.Namespace, cfg: Settings) -> int:
    """check a text against the forbidden-term list (exit 1 if found)"""
    from taxsms.templates.review import DEFAULT_TERMS, ContentReview, ReviewListError

    try:
        review = ContentReview.from_file(args.terms or DEFAULT_TERMS)
    except (ReviewListError, OSError) as error:
        print(f"taxsms review check: {error}", file=sys.stderr)
        return 2
    matches = review.check(args.text)
    for match in matches:
        start, end = match.original_span
        print(f"forbidden: {match.term} ({match.category}) at {start}-{end}: {match.found!r}")
    if not matches:
        print("clean")
    return 1 if matches else 0


def cmd_review_load(args: argparse.Namespace, cfg: Settings) -> int:
    """replace the forbidden-term list in Redis (a province admin; audited)"""
    from taxsms.templates.review import ContentReview, ReviewListError

    try:
        review = ContentReview.from_file(args.file)
    except (ReviewListError, OSError) as error:
        print(f"taxsms review load: {error}", file=sys.stderr)
        return 2

    async def save(redis: Any, keys: Any) -> str:
        from taxsms.governance.audit import Action
        from taxsms.governance.errors import PermissionDenied
        from taxsms.governance.registry import load_review

        actor, audit = await _province_operator(redis, keys, args.actor, {"admin"})
        current = await load_review(redis, keys)
        details = {"terms": len(review.terms), "before": len(current.terms), "digest": review.digest}
        details["source"] = str(args.file)
        if len(review.terms) * 2 < len(current.terms) and not args.allow_shrink:
            await audit.append(actor, Action.REVIEW_LOAD, "refused", details)
            raise PermissionDenied(
                f"{len(review.terms)} terms would replace {len(current.terms)}; "
                "give --allow-shrink to load an empty or much smaller list"
            )
        await review.save_to_redis(redis, keys)
        await audit.append(actor, Action.REVIEW_LOAD, review.digest, details)
        return str(keys.forbidden_terms)

    where = runtime.with_redis(cfg, save)
    print(f"loaded {len(review.terms)} terms into {where} (digest {review.digest})")
    return 0


async def _province_operator(redis: Any, keys: Any, actor: str, roles: set[str]) -> tuple[str, Any]:
    """Log the operator in; PermissionDenied unless it is an active province operator with one of `roles`."""
    from taxsms.governance.audit import AuditLog
    from taxsms.governance.enqueue import operator_password
    from taxsms.governance.errors import PermissionDenied
    from taxsms.governance.operators import OperatorBook
    from taxsms.governance.units import load_units

    if not actor:
        raise PermissionDenied("give the acting operator: --as OPERATOR_ID (a province operator)")
    audit = AuditLog(redis, keys)
    tree = await load_units(redis, keys)
    op = await OperatorBook(redis, keys, tree, audit=audit).login(actor, operator_password(actor))
    if op.unit != tree.root or not roles & set(op.roles):
        raise PermissionDenied(f"operator {op.id}: only a province {' or '.join(sorted(roles))} may do this")
    return op.id, audit
