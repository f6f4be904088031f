"""/console/api/campaigns: preview, create, the approval queue, approve / reject, progress (thin over
governance.campaigns; every rule is the campaign book's, the console only asks and shows).

Recipients are a directory audience (audiences.py: the directory gives each its unit), an uploaded list
(`phone,unit` lines; a bare phone is of the creator's unit), or both. A campaign is shown to operators whose
jurisdiction contains its unit; phones and names only masked, a sample of five.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import msgspec
from aiohttp import web

from taxsms.api.books import Books, books
from taxsms.api.console.audiences import AUDIENCE_SCHEMA, AudienceForm, audience_of
from taxsms.api.console.common import content_review, read_form, refusals, require_role
from taxsms.api.errors import ApiError, json_response
from taxsms.api.routes import JSON, Param, RouteTable, console_route, error_reply, json_reply
from taxsms.api.sessions import Session, request_session
from taxsms.api.state import KEYS, REDIS
from taxsms.channels.smpp.text import segment_info
from taxsms.governance.campaigns import APPROVER_ROLES, Campaign, CampaignState, sign
from taxsms.governance.operators import Role
from taxsms.queue.jobs import CHINA, FINAL_STATES
from taxsms.queue.store import job_shards
from taxsms.templates import TemplateCatalog, TemplateError

MAX_RECIPIENTS = 200_000
REASONS_READ = 500  # final jobs per campaign whose reason is read for the progress view
LISTED = 200
NOT_SENT = ("suppressed", "rejected", "expired", "failed", "undelivered", "dead_lettered")


class Draft(msgspec.Struct, forbid_unknown_fields=True):
    """What the create form sends: a text, or a reviewed template and its variables; the recipients."""

    name: str = ""
    kind: str = "notice"
    text: str = ""
    template: str = ""
    vars: dict[str, str] = {}
    recipients: str = ""  # CSV lines phone[,unit]
    audience: AudienceForm | None = None
    not_before: datetime | None = None


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


async def _catalog(request: web.Request) -> TemplateCatalog:
    catalog = await TemplateCatalog.load_from_redis(request.app[REDIS], request.app[KEYS])
    return catalog if len(catalog) else TemplateCatalog.from_dir()


async def _body_text(request: web.Request, draft: Draft) -> str:
    """The campaign's text before signing: as written, or the template rendered with its variables."""
    if not draft.template:
        return draft.text.strip()
    catalog = await _catalog(request)
    if draft.template not in catalog or catalog.get(draft.template).kind.value != draft.kind:
        raise ApiError(422, "invalid", f"no reviewed {draft.kind} template {draft.template!r}")
    try:
        return catalog.render_body(draft.template, draft.vars).strip()
    except TemplateError as exc:
        raise ApiError(422, "invalid", str(exc), variable=exc.variable) from None


def parse_recipients(text: str, default_unit: str) -> list[tuple[str, str]]:
    """(phone, unit) from `phone[,unit]` lines; a header line `phone,...` and blank lines are skipped."""
    rows = []
    for number, cells in enumerate(csv.reader(io.StringIO(text)), 1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or (number == 1 and cells[0].lower() in {"phone", "手机号", "手机"}):
            continue
        rows.append((cells[0], cells[1] if len(cells) > 1 and cells[1] else default_unit))
        if len(rows) > MAX_RECIPIENTS:
            raise ApiError(413, "too_many_recipients", f"at most {MAX_RECIPIENTS} recipients per campaign")
    return rows


async def preview(request: web.Request) -> web.Response:
    """The signed text, its segments, the cost for the recipients given, the forbidden terms it contains."""
    session = request_session(request)
    draft = await read_form(request, Draft)
    found = await books(request)
    body = await _body_text(request, draft)
    signature = found.tree.get(session.operator.unit).sms_signature
    signed = sign(body, signature, session.operator.name) if body else ""
    info = segment_info(signed) if signed else None
    matches = (await content_review(request)).check(body) if body else []
    recipients = len({phone for phone, _ in parse_recipients(draft.recipients, session.operator.unit)})
    segments = info.segments if info else 0
    quota = await found.accounting.get_quota(session.operator.unit)
    month = f"{datetime.now(CHINA):%Y-%m}"
    used = (await found.accounting.report(month)).own.get(session.operator.unit, {})
    return json_response(
        {
            "text": signed,
            "characters": len(signed),
            "encoding": info.encoding if info else "",
            "segments": segments,
            "recipients": recipients,
            "cost_segments": segments * recipients,
            "quota": quota,
            "used_this_month": sum(used.values()),
            "clean": not matches,
            "matches": [{"term": m.term, "category": m.category, "found": m.found} for m in matches],
        }
    )


async def create(request: web.Request) -> web.Response:
    """Create a campaign, pending approval by a second person."""
    session = request_session(request)
    require_role(session, Role.PUBLISHER, Role.ADMIN)
    draft = await read_form(request, Draft)
    found = await books(request)
    body = await _body_text(request, draft)
    recipients = parse_recipients(draft.recipients, session.operator.unit)
    audience = audience_of(session, found.tree, draft.audience) if draft.audience else None
    if not recipients and audience is None:
        raise ApiError(422, "invalid", "choose an audience or upload recipients")
    review = await content_review(request)
    matches = review.check(body)
    if matches:
        terms = ", ".join(sorted({m.term for m in matches}))
        raise ApiError(422, "content_refused", f"the text contains forbidden terms: {terms}")
    with refusals():
        campaign = await found.campaigns.create(
            session.operator,
            body,
            recipients,
            name=draft.name,
            kind=draft.kind,
            not_before=draft.not_before,
            audience=audience,
        )
    return json_response(await _summary(request, found, session, campaign), 201)


def _may_decide(session: Session, campaign: Campaign) -> bool:
    """Whether to offer approve / reject (the campaign book decides for real)."""
    op = session.operator
    return (
        campaign.state is CampaignState.PENDING_APPROVAL
        and campaign.creator != op.id
        and _may_oversee(session, campaign)
    )


def _may_oversee(session: Session, campaign: Campaign) -> bool:
    return bool(APPROVER_ROLES & session.operator.roles) and session.sees(campaign.unit)


async def _summary(request: web.Request, found: Books, session: Session, campaign: Campaign) -> dict[str, object]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind.value,
        "unit": campaign.unit,
        "unit_name": found.tree.name_of(campaign.unit) if campaign.unit in found.tree else campaign.unit,
        "creator": campaign.creator,
        "text": campaign.text,
        "recipients": campaign.recipients,
        "audience": campaign.audience,
        "audience_unit_name": _audience_unit_name(found, campaign.audience),
        "sample": campaign.sample.split("; ") if campaign.sample else [],
        "state": campaign.state.value,
        "created_at": campaign.created_at.timestamp(),
        "approver": campaign.approver,
        "decided_at": campaign.decided_at.timestamp() if campaign.decided_at else 0,
        "reason": campaign.reason,
        "enqueued": campaign.enqueued,
        "may_decide": _may_decide(session, campaign),
        "may_cancel": campaign.state in (CampaignState.PENDING_APPROVAL, CampaignState.APPROVED)
        and (campaign.creator == session.operator.id or _may_oversee(session, campaign)),
    }


def _audience_unit_name(found: Books, audience: str) -> str:
    """The name of the unit an audience ('taxpayers of county-e1, subscribed') is of ('' for none)."""
    match = re.match(r"\w+ of ([^,]+)", audience)
    unit = match[1] if match else ""
    return found.tree.name_of(unit) if unit in found.tree else unit


async def list_campaigns(request: web.Request) -> web.Response:
    """The newest campaigns of the operator's jurisdiction; `?state=pending_approval` for the approval queue."""
    session, found = request_session(request), await books(request)
    state = request.query.get("state", "")
    rows = []
    for campaign in await found.campaigns.recent(LISTED):
        if session.sees(campaign.unit) and (not state or campaign.state.value == state):
            rows.append(await _summary(request, found, session, campaign))
    return json_response({"campaigns": rows})


async def _visible(request: web.Request) -> tuple[Session, Books, Campaign]:
    session, found = request_session(request), await books(request)
    with refusals():
        campaign = await found.campaigns.get(request.match_info["id"])
    if not session.sees(campaign.unit):
        raise ApiError(404, "not_found", f"no campaign {request.match_info['id']!r} in your jurisdiction")
    return session, found, campaign


async def get_campaign(request: web.Request) -> web.Response:
    """One campaign: its record, a masked sample of recipients, its jobs by state and why some were not sent."""
    session, found, campaign = await _visible(request)
    with refusals():
        status = await found.campaigns.status(campaign.id)
    summary = await _summary(request, found, session, status.campaign)
    return json_response({**summary, "counts": status.counts, "reasons": await _reasons(request, campaign)})


async def _reasons(request: web.Request, campaign: Campaign) -> dict[str, int]:
    """reason -> jobs, for the first REASONS_READ jobs of an approved campaign that were not sent."""
    redis, keys = request.app[REDIS], request.app[KEYS]
    if campaign.state is not CampaignState.APPROVED:
        return {}
    ids = [f"{campaign.id}-{n:06d}" for n in range(1, min(campaign.recipients, REASONS_READ) + 1)]
    shards = await job_shards(redis, keys, ids)
    async with redis.pipeline(transaction=False) as pipe:
        for job_id, shard in zip(ids, shards, strict=True):
            pipe.hmget((shard or keys).job(job_id), "state", "error")
        replies = await pipe.execute()
    reasons: dict[str, int] = {}
    for state, error in replies:
        name = state.decode() if state else ""
        if name in NOT_SENT and name in FINAL_STATES:
            why = f"{name}: {(error or b'').decode() or '-'}"
            reasons[why] = reasons.get(why, 0) + 1
    return reasons


async def approve(request: web.Request) -> web.Response:
    """Approve: the campaign's messages are enqueued."""
    session, found, campaign = await _visible(request)
    with refusals():
        added = await found.campaigns.approve(session.operator, campaign.id)
    return json_response({"id": campaign.id, "state": "approved", "enqueued": added})


async def reject(request: web.Request) -> web.Response:
    """Reject with a reason: nothing is sent."""
    session, found, campaign = await _visible(request)
    decision = await read_form(request, Decision)
    with refusals():
        rejected = await found.campaigns.reject(session.operator, campaign.id, decision.reason)
    return json_response({"id": rejected.id, "state": rejected.state.value, "reason": rejected.reason})


async def cancel(request: web.Request) -> web.Response:
    """Cancel with a reason: nothing more of it is sent (parts already submitted are not recalled)."""
    session, found, campaign = await _visible(request)
    decision = await read_form(request, Decision)
    with refusals():
        cancelled = await found.campaigns.cancel(session.operator, campaign.id, decision.reason)
    return json_response({"id": cancelled.id, "state": cancelled.state.value, "reason": cancelled.reason})


async def list_templates(request: web.Request) -> web.Response:
    """The reviewed templates a campaign can use (notices and internal messages)."""
    rows = [
        {
            "name": t.name,
            "kind": t.kind.value,
            "variables": list(t.variables),
            "description": t.description,
            "body": t.body,
        }
        for t in await _catalog(request)
        if t.kind.value in ("notice", "internal")
    ]
    return json_response({"templates": rows})


ID = (Param("id", "path", {"type": "string", "minLength": 1, "maxLength": 64}, "The campaign id", required=True),)
DRAFT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["notice", "internal"]},
        "text": {"type": "string"},
        "template": {"type": "string"},
        "vars": {"type": "object", "additionalProperties": {"type": "string"}},
        "recipients": {"type": "string", "description": "CSV lines: phone[,unit]"},
        "audience": AUDIENCE_SCHEMA,
        "not_before": {"type": "string", "format": "date-time"},
    },
}
REASON_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {"reason": {"type": "string"}}}
OBJECT = {"type": "object"}


def register_campaign_routes(table: RouteTable) -> None:
    table.add(
        console_route(
            "GET",
            "/console/api/campaigns",
            list_campaigns,
            "Campaigns of the operator's jurisdiction (?state= filters)",
            params=(Param("state", "query", {"type": "string"}),),
            responses={200: json_reply("Campaigns", OBJECT)},
        )
    )
    table.add(
        console_route(
            "POST",
            "/console/api/campaigns/preview",
            preview,
            "Signed text, segments, cost and forbidden terms of a draft",
            body={JSON: DRAFT_SCHEMA},
            responses={200: json_reply("The preview", OBJECT), 422: error_reply("Template variables refused")},
        )
    )
    table.add(
        console_route(
            "POST",
            "/console/api/campaigns",
            create,
            "Create a campaign, pending approval",
            body={JSON: DRAFT_SCHEMA},
            responses={
                201: json_reply("Created", OBJECT),
                403: error_reply("Not allowed (role, scope, confirmation) or no CSRF token"),
                413: error_reply("Too many recipients"),
                422: error_reply("Refused: forbidden terms, bad numbers, no text"),
            },
        )
    )
    table.add(
        console_route(
            "GET",
            "/console/api/campaigns/{id}",
            get_campaign,
            "One campaign with its progress",
            params=ID,
            responses={200: json_reply("The campaign", OBJECT), 404: error_reply("No such campaign here")},
        )
    )
    decided = {
        200: json_reply("Decided", OBJECT),
        403: error_reply("Not allowed to decide"),
        404: error_reply("No such campaign here"),
        422: error_reply("Refused"),
    }
    table.add(
        console_route(
            "POST", "/console/api/campaigns/{id}/approve", approve, "Approve a campaign", params=ID, responses=decided
        )
    )
    table.add(
        console_route(
            "POST",
            "/console/api/campaigns/{id}/reject",
            reject,
            "Reject a campaign with a reason",
            params=ID,
            body={JSON: REASON_SCHEMA},
            responses=decided,
        )
    )
    table.add(
        console_route(
            "POST",
            "/console/api/campaigns/{id}/cancel",
            cancel,
            "Cancel a campaign with a reason",
            params=ID,
            body={JSON: REASON_SCHEMA},
            responses=decided,
        )
    )
    table.add(
        console_route(
            "GET",
            "/console/api/templates",
            list_templates,
            "Reviewed templates for campaigns",
            responses={200: json_reply("Templates", OBJECT)},
        )
    )
