"""/console/api/inbox: taxpayers' consultations, reports and complaints, and staff answers through the gate.

A ticket belongs to a unit (the directory's, for the taxpayer's phone): staff list and answer those of their
unit and the units below it (the province all). An answer is admitted by the same policy as every other send
(signed with the operator's unit and real name, reviewed, kept to the staff send window, audited) before it is
enqueued. Phones are masked, always.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from taxsms.api.books import books
from taxsms.api.console.common import read_form, require_role
from taxsms.api.errors import ApiError, json_response
from taxsms.api.routes import JSON, Param, RouteTable, console_route, error_reply, json_reply
from taxsms.api.sessions import request_session
from taxsms.api.state import GATE, KEYS, REDIS, STORE
from taxsms.governance.operators import Role
from taxsms.governance.units import UnitTree
from taxsms.replies.inbox import ANSWERED, OPEN, Inbox, Ticket, TicketError, sees_ticket, shown

LISTED = 200


class Answer(msgspec.Struct, forbid_unknown_fields=True):
    text: str


def _row(tree: UnitTree, ticket: Ticket) -> dict[str, object]:
    return {
        "id": ticket.id,
        "unit": ticket.unit,
        "unit_name": tree.name_of(ticket.unit) if ticket.unit in tree else ticket.unit,
        "phone": ticket.masked_phone,
        "text": shown(ticket.text),
        "kind": ticket.kind.value,
        "created_at": ticket.created_at,
        "status": ticket.status,
        "operator": ticket.operator,
        "answer": ticket.answer,
        "answered_at": ticket.answered_at,
    }


async def list_tickets(request: web.Request) -> web.Response:
    """Tickets of the operator's unit and below, newest first (?status=open|answered)."""
    session = request_session(request)
    require_role(session, Role.STAFF12366, Role.ADMIN)
    status = request.query.get("status") or None
    if status not in (None, OPEN, ANSWERED):
        raise ApiError(400, "bad_request", f"status is {OPEN} or {ANSWERED}")
    tree = (await books(request)).tree
    units = None if session.province_wide else {unit.id for unit in tree.subtree(session.operator.unit)}
    tickets = await Inbox(request.app[REDIS], request.app[KEYS]).list(status, limit=LISTED, units=units)
    return json_response({"tickets": [_row(tree, t) for t in tickets]})


async def answer_ticket(request: web.Request) -> web.Response:
    """Answer a ticket: the reply goes through the gate, signed with the operator's unit and name."""
    session = request_session(request)
    require_role(session, Role.STAFF12366)
    form = await read_form(request, Answer)
    inbox, ticket_id = Inbox(request.app[REDIS], request.app[KEYS]), request.match_info["id"]
    ticket = await inbox.get(ticket_id)
    if ticket is None or not sees_ticket((await books(request)).tree, session.operator.unit, ticket):
        raise ApiError(404, "not_found", f"no ticket {ticket_id!r} of your unit or the units below it")
    try:
        job = await inbox.answer(ticket_id, session.operator, form.text, request.app[GATE])
    except TicketError as exc:
        raise ApiError(422, "refused", str(exc)) from None
    await request.app[STORE].enqueue([job])
    return json_response({"ticket": request.match_info["id"], "job": job.id, "text": job.text}, 202)


TICKET_ID = (Param("id", "path", {"type": "string", "minLength": 1, "maxLength": 40}, "Ticket number", required=True),)


def register_inbox_routes(table: RouteTable) -> None:
    table.add(
        console_route(
            "GET",
            "/console/api/inbox",
            list_tickets,
            "Taxpayers' tickets (phones masked)",
            params=(Param("status", "query", {"type": "string", "enum": [OPEN, ANSWERED]}),),
            responses={200: json_reply("Tickets", {"type": "object"}), 403: error_reply("Not 12366 staff")},
        )
    )
    table.add(
        console_route(
            "POST",
            "/console/api/inbox/{id}/answer",
            answer_ticket,
            "Answer a ticket (through the gate)",
            params=TICKET_ID,
            body={JSON: {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}},
            responses={
                202: json_reply("Answer enqueued", {"type": "object"}),
                403: error_reply("Not 12366 staff, or no CSRF token"),
                404: error_reply("No such ticket of the operator's unit or below"),
                422: error_reply("Refused: empty, outside the window, forbidden content"),
            },
        )
    )
