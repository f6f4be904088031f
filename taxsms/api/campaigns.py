"""/v1/campaigns: an upstream system proposes a notice (or internal message) campaign, pending approval.

A token never sends a notice itself: what it posts here is stored pending approval (CampaignBook.propose),
and goes out only after an operator approves it (`taxsms campaign approve`, or the console), signed with the
unit's registered signature and the approver's real name. The token must have been granted the kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from aiohttp import web

from taxsms.api.auth import request_token
from taxsms.api.books import books
from taxsms.api.errors import ApiError, json_response
from taxsms.api.routes import JSON, Route, RouteTable, error_reply, json_reply
from taxsms.governance.errors import PermissionDenied
from taxsms.governance.policy import CAMPAIGN_KINDS
from taxsms.templates.review import ContentRejected

MAX_RECIPIENTS = 100_000


class Recipient(msgspec.Struct, forbid_unknown_fields=True):
    to: str
    recipient_unit: str = ""  # left out: taken from the directory


class Proposal(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    recipients: Annotated[list[Recipient], msgspec.Meta(min_length=1, max_length=MAX_RECIPIENTS)]
    kind: str = "notice"
    not_before: datetime | None = None
    expires_at: datetime | None = None


_proposal = msgspec.json.Decoder(Proposal)


async def post_campaign(request: web.Request) -> web.Response:
    """Propose a campaign: stored pending approval; an operator approves it (never the token)."""
    token = request_token(request)
    if request.content_type != JSON:
        raise ApiError(415, "unsupported_media_type", f"send {JSON}")
    try:
        proposal = _proposal.decode(await request.read())
    except msgspec.DecodeError as exc:
        raise ApiError(422, "invalid_campaign", str(exc)) from None
    if proposal.kind not in CAMPAIGN_KINDS:
        raise ApiError(422, "invalid_campaign", f"kind: a campaign is notice or internal, not {proposal.kind!r}")
    book = (await books(request)).campaigns
    try:
        campaign = await book.propose(
            token.tag,
            token.unit,
            proposal.text,
            [(r.to, r.recipient_unit) for r in proposal.recipients],
            name=proposal.name,
            kind=proposal.kind,
            not_before=proposal.not_before,
            expires_at=proposal.expires_at,
        )
    except (PermissionDenied, ContentRejected) as error:
        raise ApiError(403, "forbidden", str(error)) from None
    except ValueError as error:
        raise ApiError(422, "invalid_campaign", str(error)) from None
    body = {"id": campaign.id, "state": campaign.state.value, "recipients": campaign.recipients, "text": campaign.text}
    return json_response(body, 201)


CAMPAIGN_SCHEMA = {
    "type": "object",
    "required": ["name", "text", "recipients"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "text": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "without 【】: signed for you"},
        "kind": {"type": "string", "enum": sorted(CAMPAIGN_KINDS), "default": "notice"},
        "recipients": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_RECIPIENTS,
            "items": {
                "type": "object",
                "required": ["to"],
                "additionalProperties": False,
                "properties": {
                    "to": {"type": "string"},
                    "recipient_unit": {"type": "string", "description": "left out: from the directory"},
                },
            },
        },
        "not_before": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}
PROPOSED_SCHEMA = {
    "type": "object",
    "required": ["id", "state", "recipients", "text"],
    "properties": {
        "id": {"type": "string"},
        "state": {"type": "string", "enum": ["pending_approval"]},
        "recipients": {"type": "integer"},
        "text": {"type": "string", "description": "as signed so far; the approver's name is added at approval"},
    },
}


def register_campaign_routes(table: RouteTable) -> None:
    table.add(
        Route(
            "POST",
            "/v1/campaigns",
            post_campaign,
            "Propose a notice or internal-message campaign (pending approval by an operator)",
            "campaigns",
            auth="token",
            body={JSON: CAMPAIGN_SCHEMA},
            responses={
                201: json_reply("Stored, pending approval", PROPOSED_SCHEMA),
                403: error_reply("Not granted the kind, out of scope, or forbidden content"),
                422: error_reply("The campaign is invalid (the detail names what)"),
            },
        )
    )
