"""/v1/directory/taxpayers/{id} and /v1/filings: incremental directory changes and filing events.

A token may change only taxpayers of its unit and the units below it. Each change is recorded in the
consent trail as coming from the API (the token's id) with the reason given. Names, ids and phones are
masked in answers unless the token may read personal data (`pii`).
"""

from __future__ import annotations

import time

import msgspec
from aiohttp import web

from taxsms.api.auth import ApiToken, request_token
from taxsms.api.errors import ApiError, json_response
from taxsms.api.routes import JSON, Param, Route, RouteTable, error_reply, json_reply
from taxsms.api.state import KEYS, REDIS
from taxsms.directory.deadlines import Filing, PeriodError
from taxsms.directory.directory import Change, Directory, Origin
from taxsms.directory.filings import FilingBook, FilingEvent, parse_time
from taxsms.directory.ids import TaxpayerIdError, validate_taxpayer_id
from taxsms.directory.records import DirectoryError, Taxpayer, phone, taxpayer
from taxsms.governance.units import UnitTree, load_units
from taxsms.replies.subscriptions import How

MAX_EVENTS = 10_000


class _Phone(msgspec.Struct, forbid_unknown_fields=True):
    phone: str
    role: str
    subscribed: bool | None = None


class _TaxpayerBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    unit: str
    phones: list[_Phone]
    reason: str


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    taxpayer_id: str
    tax: str
    period: str
    filed_at: str = ""


class _Filings(msgspec.Struct, forbid_unknown_fields=True):
    events: list[_Event]


def _decode(data: bytes, kind: type, shape: str):  # type: ignore[no-untyped-def]
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ApiError(400, "bad_request", f"expected JSON {shape}: {exc}") from None


async def _tree(request: web.Request) -> UnitTree:
    """The stored unit tree (empty before `taxsms units load`: every unit is then unknown, refused with 422)."""
    return await load_units(request.app[REDIS], request.app[KEYS])


def _in_scope(tree: UnitTree, token: ApiToken, unit: str) -> None:
    if not tree.contains(token.unit, unit):
        who = f"this token acts for {tree.describe(token.unit)}"
        raise ApiError(403, "out_of_scope", f"{who}, not {tree.describe(unit)}")


def _shown(record: Taxpayer, token: ApiToken) -> dict[str, object]:
    if token.pii:
        return {"id": record.id, "name": record.name, "unit": record.unit,
                "phones": [{"phone": c.phone, "role": c.role.value} for c in record.contacts]}  # fmt: skip
    return record.masked()


def _directory(request: web.Request) -> Directory:
    return Directory(request.app[REDIS], request.app[KEYS])


def _taxpayer_id(request: web.Request) -> str:
    try:
        return validate_taxpayer_id(request.match_info["taxpayer_id"])
    except TaxpayerIdError as exc:
        raise ApiError(400, "bad_taxpayer_id", str(exc)) from None


async def put_taxpayer(request: web.Request) -> web.Response:
    """Add or replace a taxpayer; consent per phone where given."""
    token = request_token(request)
    tid = _taxpayer_id(request)
    body: _TaxpayerBody = _decode(await request.read(), _TaxpayerBody, "{name, unit, phones, reason}")
    if not body.reason.strip():
        raise ApiError(400, "bad_request", "give the reason for the change")
    tree = await _tree(request)
    directory = _directory(request)
    try:
        record = taxpayer(tree, tid, body.name, body.unit, [(p.phone, p.role) for p in body.phones])
        consent = {phone(p.phone): p.subscribed for p in body.phones if p.subscribed is not None}
    except DirectoryError as exc:
        raise ApiError(422, "invalid_taxpayer", str(exc)) from None
    _in_scope(tree, token, record.unit)
    old = await directory.get(tid)
    if old is not None:
        _in_scope(tree, token, old.unit)
    origin = Origin(How.API, f"token {token.id}", body.reason)
    changed = await directory.apply([Change(record, consent, origin)], time.time())  # type: ignore[arg-type]
    status = 201 if old is None else 200
    return json_response({"taxpayer": _shown(record, token), "changed": bool(changed)}, status=status)


async def get_taxpayer(request: web.Request) -> web.Response:
    token = request_token(request)
    record = await _directory(request).get(_taxpayer_id(request))
    if record is None:
        raise ApiError(404, "not_found", "no such taxpayer in the directory")
    _in_scope(await _tree(request), token, record.unit)
    return json_response({"taxpayer": _shown(record, token)})


async def delete_taxpayer(request: web.Request) -> web.Response:
    token = request_token(request)
    reason = request.query.get("reason", "").strip()
    if not reason:
        raise ApiError(400, "bad_request", "give the reason for the removal (?reason=...)")
    directory = _directory(request)
    record = await directory.get(_taxpayer_id(request))
    if record is None:
        raise ApiError(404, "not_found", "no such taxpayer in the directory")
    _in_scope(await _tree(request), token, record.unit)
    origin = Origin(How.API, f"token {token.id}", reason)
    await directory.apply([Change(record, {}, origin, delete=True)], time.time())
    return json_response({"removed": True})


async def post_filings(request: web.Request) -> web.Response:
    """Record filing events (from the collection system)."""
    request_token(request)
    body: _Filings = _decode(await request.read(), _Filings, "{events: [{taxpayer_id, tax, period, filed_at}]}")
    if len(body.events) > MAX_EVENTS:
        raise ApiError(413, "too_many", f"at most {MAX_EVENTS} events per request")
    now, events, errors = time.time(), [], []
    for index, event in enumerate(body.events):
        try:
            filing = Filing.of(event.tax, event.period)
            events.append(FilingEvent(validate_taxpayer_id(event.taxpayer_id), filing, parse_time(event.filed_at, now)))
        except (TaxpayerIdError, PeriodError, ValueError) as exc:
            errors.append({"index": index, "detail": str(exc)})
    unknown = await FilingBook(request.app[REDIS], request.app[KEYS], _directory(request)).record(events)
    return json_response({"recorded": len(events), "rejected": len(errors), "not_in_directory": unknown,
                          "errors": errors})  # fmt: skip


_ID = Param("taxpayer_id", "path", {"type": "string", "minLength": 15, "maxLength": 20}, required=True)
_TAXPAYER = {
    "type": "object",
    "required": ["id", "name", "unit", "phones"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "unit": {"type": "string"},
        "phones": {"type": "array", "items": {"type": "object", "properties": {
            "phone": {"type": "string"}, "role": {"type": "string"}}}},
    },
}  # fmt: skip
_PUT_BODY = {
    "type": "object",
    "required": ["name", "unit", "phones", "reason"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "unit": {"type": "string", "description": "county or sub-bureau in charge"},
        "phones": {"type": "array", "items": {"type": "object", "required": ["phone", "role"], "properties": {
            "phone": {"type": "string"},
            "role": {"type": "string", "enum": ["legal", "finance", "agent"]},
            "subscribed": {"type": "boolean"}}}},
        "reason": {"type": "string", "description": "recorded in the consent trail"},
    },
}  # fmt: skip
_FILINGS_BODY = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {"type": "array", "maxItems": MAX_EVENTS, "items": {
        "type": "object", "required": ["taxpayer_id", "tax", "period"], "properties": {
            "taxpayer_id": {"type": "string"}, "tax": {"type": "string", "examples": ["VAT"]},
            "period": {"type": "string", "examples": ["2026-11", "2026-Q3"]},
            "filed_at": {"type": "string", "description": "ISO 8601; no offset = China time; default now"}}}}},
}  # fmt: skip


def register_directory_routes(table: RouteTable) -> None:
    path = "/v1/directory/taxpayers/{taxpayer_id}"
    shown = json_reply("The taxpayer (masked unless the token may read personal data)",
                       {"type": "object", "properties": {"taxpayer": _TAXPAYER}})  # fmt: skip
    out_of_scope = error_reply("The taxpayer's unit is outside the token's unit")
    table.add(Route("PUT", path, put_taxpayer, "Add or replace a taxpayer of the directory", "directory",
                    auth="token", params=(_ID,), body={JSON: _PUT_BODY},
                    responses={200: shown, 201: shown, 403: out_of_scope,
                               422: error_reply("Invalid record (names the field)")}))  # fmt: skip
    table.add(Route("GET", path, get_taxpayer, "A taxpayer of the directory", "directory", auth="token",
                    params=(_ID,),
                    responses={200: shown, 403: out_of_scope, 404: error_reply("Not in the directory")}))  # fmt: skip
    reason = Param("reason", "query", {"type": "string", "minLength": 1}, "recorded in the consent trail", True)
    table.add(Route("DELETE", path, delete_taxpayer, "Remove a taxpayer from the directory", "directory",
                    auth="token", params=(_ID, reason),
                    responses={200: json_reply("Removed", {"type": "object"}), 403: out_of_scope,
                               404: error_reply("Not in the directory")}))  # fmt: skip
    table.add(Route("POST", "/v1/filings", post_filings, "Record filing events", "directory", auth="token",
                    body={JSON: _FILINGS_BODY},
                    responses={200: json_reply("What was recorded", {"type": "object", "properties": {
                        "recorded": {"type": "integer"}, "rejected": {"type": "integer"},
                        "not_in_directory": {"type": "integer"}, "errors": {"type": "array"}}})}))  # fmt: skip
