"""/console/api/usage, /audit, /audit/verify, /consent/{phone}, /phones/{phone}/messages and /taxpayers/{id}:
what was sent and done, a phone's consent and recent messages, a taxpayer and its phones.

Usage, audit, messages and taxpayers are scoped to the operator's jurisdiction (the province sees every unit; a
county its own subtree and the audit entries that name its unit). Phones, names and taxpayer ids are masked
(operators have no right to read them whole); a message shows its kind, unit, state and receipt, not its text.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from taxsms.api.books import books
from taxsms.api.console.common import require_role
from taxsms.api.errors import ApiError, json_response
from taxsms.api.routes import Param, RouteTable, console_route, error_reply, json_reply
from taxsms.api.sessions import Session, request_session
from taxsms.api.state import AUDIT, KEYS, REDIS, STORE
from taxsms.directory.directory import Directory
from taxsms.directory.ids import TaxpayerIdError, validate_taxpayer_id
from taxsms.governance.accounting import check_month
from taxsms.governance.operators import Role
from taxsms.governance.units import UnitTree
from taxsms.privacy import mask_name, mask_phone, mask_taxpayer_id, mask_text
from taxsms.queue.jobs import CHINA, JobError, normalise_mobile
from taxsms.queue.store import JobStore
from taxsms.replies.subscriptions import EVERY_TAXPAYER, SubscriptionBook, SubscriptionError

AUDIT_SHOWN = 200
READERS = (Role.AUDITOR, Role.ADMIN)


async def usage(request: web.Request) -> web.Response:
    """Segments per unit of the jurisdiction in `month` (own and with the units below), with quotas."""
    session, found = request_session(request), await books(request)
    month = request.query.get("month") or f"{datetime.now(CHINA):%Y-%m}"
    try:
        report = await found.accounting.report(check_month(month))
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    rows = []
    for unit in found.tree.subtree(session.operator.unit) if session.operator.unit in found.tree else []:
        rows.append(
            {
                "unit": unit.id,
                "name": unit.name,
                "level": unit.level.value,
                "own": sum(v for k, v in report.own.get(unit.id, {}).items()),
                "total": report.rolled.get(unit.id, {}).get("total", 0),
                "quota": await found.accounting.get_quota(unit.id),
            }
        )
    return json_response({"month": month, "units": rows})


async def audit_list(request: web.Request) -> web.Response:
    """The newest audit entries matching ?action= (a prefix ending in '.' too), ?operator=, ?since=, ?unit=
    (for a unit's operator: its own unit)."""
    session = request_session(request)
    require_role(session, *READERS)
    query = request.query
    unit = query.get("unit", "") if session.province_wide else session.operator.unit
    entries = await request.app[AUDIT].select(
        since=query.get("since", ""),
        unit=unit,
        operator=query.get("operator", ""),
        action=query.get("action", ""),
        limit=AUDIT_SHOWN,
    )
    rows = [
        {
            "seq": e.seq,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "subject": mask_text(e.subject),
            "details": mask_text(str(e.details)),
        }
        for e in reversed(entries)
    ]
    return json_response({"entries": rows})


async def audit_verify(request: web.Request) -> web.Response:
    """Walk the whole chain and say whether it is intact, or where it breaks."""
    require_role(request_session(request), *READERS)
    result = await request.app[AUDIT].verify()
    return json_response(
        {"ok": result.ok, "entries": result.entries, "broken_at": result.broken_at, "reason": result.reason}
    )


async def consent(request: web.Request) -> web.Response:
    """A phone's consent per taxpayer and its trail (phone and taxpayer ids masked)."""
    require_role(request_session(request), Role.STAFF12366, Role.ADMIN, Role.PUBLISHER)
    book = SubscriptionBook(request.app[REDIS], request.app[KEYS])
    try:
        record = await book.record(request.match_info["phone"])
    except SubscriptionError as exc:
        raise ApiError(422, "invalid", str(exc)) from None
    if record is None:
        raise ApiError(404, "not_found", f"no consent record for {mask_phone(request.match_info['phone'])}")

    def who(taxpayer: str) -> str:
        return "*" if taxpayer == EVERY_TAXPAYER else mask_taxpayer_id(taxpayer)

    return json_response(
        {
            "phone": mask_phone(record.phone),
            "subscribed": record.subscribed,
            "sms": record.sms,
            "taxpayers": {who(tp): state for tp, state in record.taxpayers.items()},
            "trail": [
                {"at": e.at, "taxpayer": who(e.taxpayer_id), "state": e.state, "how": e.how, "ref": mask_text(e.ref)}
                for e in reversed(record.trail)
            ],
        }
    )


def _phone(raw: str) -> str:
    try:
        return normalise_mobile(raw)
    except JobError:
        raise ApiError(422, "invalid", f"not a mainland China mobile number: {mask_phone(raw)}") from None


def _message(tree: UnitTree, record: dict[str, str]) -> dict[str, object]:
    """One message to a phone: what, from whom, where it got, the SMSC's receipt per part."""
    unit = record.get("unit", "")
    at = record.get("done_at") or record.get("submitted_at") or record.get("submitting_at") or "0"
    parts = sorted((name, value) for name, value in record.items() if name[:1] == "r" and name[1:].isdigit())
    receipts = [f"{name[1:]}:{value}" for name, value in parts]
    return {
        "id": mask_text(record["id"]),
        "kind": record.get("kind", ""),
        "unit": unit,
        "unit_name": tree.name_of(unit) if unit in tree else unit,
        "state": record.get("state", ""),
        "at": float(at),
        "receipt": " ".join(receipts),
        "error": mask_text(record.get("error", "")),
    }


async def _messages(store: JobStore, session: Session, tree: UnitTree, phone: str) -> dict[str, object]:
    records = await store.recent_to(phone)
    shown = [_message(tree, r) for r in records if session.sees(r.get("unit", ""))]
    return {"phone": mask_phone(phone), "messages": shown, "other_units": len(records) - len(shown)}


async def phone_messages(request: web.Request) -> web.Response:
    """The newest messages to a phone that the operator's jurisdiction sent (and how many others did)."""
    session, found = request_session(request), await books(request)
    phone = _phone(request.match_info["phone"])
    return json_response(await _messages(request.app[STORE], session, found.tree, phone))


async def taxpayer_record(request: web.Request) -> web.Response:
    """A taxpayer of the jurisdiction, masked: its unit, its phones with their role, consent and messages."""
    session, found = request_session(request), await books(request)
    try:
        taxpayer_id = validate_taxpayer_id(request.match_info["id"])
    except TaxpayerIdError as exc:
        raise ApiError(422, "invalid", str(exc)) from None
    record = await Directory(request.app[REDIS], request.app[KEYS]).get(taxpayer_id)
    if record is None or not session.sees(record.unit):
        raise ApiError(404, "not_found", f"no taxpayer {mask_taxpayer_id(taxpayer_id)} in your jurisdiction")
    consent = await SubscriptionBook(request.app[REDIS], request.app[KEYS]).records(list(record.phones))
    phones = []
    for contact in record.contacts:
        state = consent[contact.phone].taxpayers.get(taxpayer_id, "") if contact.phone in consent else ""
        messages = await _messages(request.app[STORE], session, found.tree, contact.phone)
        phones.append({"role": contact.role.value, "consent": state, **messages})
    unit_name = found.tree.name_of(record.unit) if record.unit in found.tree else record.unit
    return json_response(
        {
            "id": mask_taxpayer_id(record.id),
            "name": mask_name(record.name),
            "unit": record.unit,
            "unit_name": unit_name,
            "phones": phones,
        }
    )


OBJECT = {"type": "object"}
PHONE = (Param("phone", "path", {"type": "string", "minLength": 1, "maxLength": 32}, required=True),)


def register_record_routes(table: RouteTable) -> None:
    table.add(
        console_route(
            "GET",
            "/console/api/usage",
            usage,
            "Segments per unit of the jurisdiction in a month, with quotas",
            params=(Param("month", "query", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}),),
            responses={200: json_reply("Usage", OBJECT)},
        )
    )
    table.add(
        console_route(
            "GET",
            "/console/api/audit",
            audit_list,
            "The newest audit entries matching the filters (auditors and admins)",
            params=tuple(Param(n, "query", {"type": "string"}) for n in ("action", "operator", "since", "unit")),
            responses={200: json_reply("Entries", OBJECT), 403: error_reply("Not an auditor or admin")},
        )
    )
    table.add(
        console_route(
            "POST",
            "/console/api/audit/verify",
            audit_verify,
            "Check every link of the audit chain",
            responses={200: json_reply("The verdict", OBJECT), 403: error_reply("Not an auditor or admin")},
        )
    )
    table.add(
        console_route(
            "GET",
            "/console/api/consent/{phone}",
            consent,
            "A phone's consent and its trail (masked)",
            params=PHONE,
            responses={
                200: json_reply("Consent", OBJECT),
                404: error_reply("No record"),
                422: error_reply("Not a mobile"),
            },
        )
    )
    table.add(
        console_route(
            "GET",
            "/console/api/phones/{phone}/messages",
            phone_messages,
            "The newest messages to a phone sent by the operator's jurisdiction (masked, with receipts)",
            params=PHONE,
            responses={200: json_reply("Messages", OBJECT), 422: error_reply("Not a mobile")},
        )
    )
    table.add(
        console_route(
            "GET",
            "/console/api/taxpayers/{id}",
            taxpayer_record,
            "A taxpayer of the jurisdiction (masked) with its phones' consent and messages",
            params=(Param("id", "path", {"type": "string", "minLength": 1, "maxLength": 32}, required=True),),
            responses={
                200: json_reply("The taxpayer", OBJECT),
                404: error_reply("No such taxpayer here"),
                422: error_reply("Not a taxpayer id"),
            },
        )
    )
