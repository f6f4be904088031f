"""/console/api/audiences: the directory audiences an operator may address a campaign to, and one audience's size.

The list is every unit of the operator's jurisdiction, each as two audiences: its taxpayers whose consent is on
(for notices) and its staff (for internal messages), and the units below it with them. How many recipients an
audience has is asked for one audience at a time (it reads the directory), with a masked sample; the campaign
book resolves the audience again when the campaign is created, so the count shown is what the creator chose,
the campaign's own count what it got.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from taxsms.api.books import books
from taxsms.api.errors import ApiError, json_response
from taxsms.api.routes import Param, RouteTable, console_route, error_reply, json_reply
from taxsms.api.sessions import Session, request_session
from taxsms.api.state import KEYS, REDIS
from taxsms.directory.audiences import Audience, AudienceKind, resolve
from taxsms.directory.directory import Directory
from taxsms.governance.units import UnitTree
from taxsms.queue.jobs import Kind

#: The campaign kind each audience is for (the form preselects it; the campaign book checks the roles).
KIND_FOR = {AudienceKind.TAXPAYERS: Kind.NOTICE, AudienceKind.STAFF: Kind.INTERNAL}


class AudienceForm(msgspec.Struct, forbid_unknown_fields=True):
    """An audience as the create form sends it."""

    kind: AudienceKind
    unit: str
    subscribed: bool = True


def audience_of(session: Session, tree: UnitTree, form: AudienceForm) -> Audience:
    """The audience, if its unit lies in the operator's jurisdiction (404 otherwise, naming nothing of it)."""
    if form.unit not in tree or not session.sees(form.unit):
        raise ApiError(404, "not_found", f"no unit {form.unit!r} in your jurisdiction")
    try:
        return Audience(form.kind, form.unit, form.kind is AudienceKind.TAXPAYERS and form.subscribed)
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc)) from None


async def list_audiences(request: web.Request) -> web.Response:
    """The audiences of the operator's jurisdiction, its own unit first."""
    session, found = request_session(request), await books(request)
    unit = session.operator.unit
    rows = []
    for member in found.tree.subtree(unit) if unit in found.tree else []:
        for kind in AudienceKind:
            rows.append(
                {
                    "kind": kind.value,
                    "unit": member.id,
                    "unit_name": member.name,
                    "level": member.level.value,
                    "subscribed": kind is AudienceKind.TAXPAYERS,
                    "campaign_kind": KIND_FOR[kind].value,
                }
            )
    return json_response({"audiences": rows})


async def audience_size(request: web.Request) -> web.Response:
    """How many recipients (phones) one audience has now, of how many taxpayers, and five of them masked."""
    session, found = request_session(request), await books(request)
    query = request.query
    try:
        form = AudienceForm(AudienceKind(query.get("kind", "")), query.get("unit", ""), query.get("subscribed") != "0")
    except ValueError:
        raise ApiError(400, "bad_request", "kind is taxpayers or staff") from None
    audience = audience_of(session, found.tree, form)
    resolved = await resolve(Directory(request.app[REDIS], request.app[KEYS]), found.tree, audience)
    return json_response(
        {
            "audience": str(audience),
            "recipients": len(resolved.recipients),
            "taxpayers": resolved.taxpayers,
            "sample": resolved.sample,
        }
    )


OBJECT = {"type": "object"}
AUDIENCE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "unit"],
    "properties": {
        "kind": {"type": "string", "enum": [k.value for k in AudienceKind]},
        "unit": {"type": "string"},
        "subscribed": {"type": "boolean"},
    },
}


def register_audience_routes(table: RouteTable) -> None:
    table.add(
        console_route(
            "GET",
            "/console/api/audiences",
            list_audiences,
            "The directory audiences of the operator's jurisdiction",
            responses={200: json_reply("Audiences", OBJECT)},
        )
    )
    table.add(
        console_route(
            "GET",
            "/console/api/audiences/size",
            audience_size,
            "How many recipients one audience has, with a masked sample",
            params=(
                Param("kind", "query", {"type": "string", "enum": [k.value for k in AudienceKind]}, required=True),
                Param("unit", "query", {"type": "string", "minLength": 1, "maxLength": 64}, required=True),
                Param("subscribed", "query", {"type": "string", "enum": ["0", "1"]}),
            ),
            responses={
                200: json_reply("The audience's size", OBJECT),
                400: error_reply("Bad kind"),
                404: error_reply("No such unit in the jurisdiction"),
            },
        )
    )
