"""Campaigns: a notice (or internal message) to many recipients, held until a second person approves it.

create() checks the creator's scope for every recipient and runs content review, then stores the campaign
(hash `keys.campaign(id)`, state pending_approval) and its jobs (list `keys.campaign_jobs(id)`, outside
every stream). approve() by another active publisher or admin whose unit contains the creator's enqueues
the jobs; reject() drops them. Every step is in the audit log.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import msgspec
from redis.asyncio import Redis

from taxsms.governance.audit import Action, AuditLog
from taxsms.governance.errors import ContentRefused, NotFound, OutOfScope, PermissionDenied
from taxsms.governance.operators import Operator, OperatorBook, Role
from taxsms.governance.scope import send_refusal
from taxsms.governance.units import UnitTree
from taxsms.queue.jobs import CHINA, Job, JobError, Kind, State, encode_job, normalise_mobile, validate_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore

if TYPE_CHECKING:
    from taxsms.directory.audiences import Audience

try:
    from taxsms.privacy import mask_phone
except ImportError:  # pragma: no cover - privacy.py is another engineer's, in progress

    def mask_phone(number: str) -> str:
        return number[:3] + "****" + number[-4:] if len(number) == 11 else "*" * max(len(number) - 4, 0) + number[-4:]


CHUNK = 1000
SHOWN = 10  # refused recipients named in an error message
CAMPAIGN_KINDS = frozenset({Kind.NOTICE, Kind.INTERNAL})
APPROVER_ROLES = frozenset({Role.PUBLISHER, Role.ADMIN})
Review = Callable[[str], list[str]]

_TRANSITION = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= ARGV[1] then return state or '' end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 'ok'
"""


class CampaignState(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


class Campaign(msgspec.Struct, omit_defaults=True):
    """A campaign's record: `text` is the final, signed text every job carries."""

    id: str
    name: str
    kind: Kind
    unit: str
    creator: str
    text: str
    recipients: int
    created_at: datetime
    state: CampaignState = CampaignState.PENDING_APPROVAL
    duplicates: int = 0
    not_before: datetime | None = None
    expires_at: datetime | None = None
    approver: str = ""
    decided_at: datetime | None = None
    reason: str = ""
    enqueued: int = 0
    audience: str = ""  # the directory audience it targets (taxsms.directory.audiences), if any
    sample: str = ""  # a few recipients, masked, for the approver


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    """A campaign and its jobs' states (pending_approval / rejected before approval, job states after)."""

    campaign: Campaign
    counts: dict[str, int]


def sign(text: str, unit_name: str, operator_name: str) -> str:
    """The final text: 【unit】text（经办人：operator） — the sending unit and the real-name operator."""
    return f"【{unit_name.strip()}】{text.strip()}（经办人：{operator_name.strip()}）"


def approval_refusal(tree: UnitTree, creator: Operator, approver: Operator, campaign: Campaign) -> str | None:
    """Why `approver` may not decide on `campaign` created by `creator`, or None if it may (pure)."""
    who = f"operator {approver.id} of {tree.describe(approver.unit)}"
    if approver.id == campaign.creator:
        return f"{who} created campaign {campaign.id} and may not approve it: a second person must"
    if not approver.active:
        return f"{who} is suspended"
    if not APPROVER_ROLES & approver.roles:
        return f"{who} may not approve campaigns: it needs the role publisher or admin"
    if not creator.active:
        return f"the creator of campaign {campaign.id}, operator {creator.id}, is suspended"
    if approver.unit not in tree or campaign.unit not in tree:
        return f"unknown unit {approver.unit if approver.unit not in tree else campaign.unit!r}"
    mine, theirs = tree.level_of(approver.unit), tree.level_of(campaign.unit)
    if mine.rank > theirs.rank:
        return f"{who} is at a lower level ({mine}) than the campaign's unit {tree.describe(campaign.unit)} ({theirs})"
    if not tree.contains(approver.unit, campaign.unit):
        return f"{who} does not oversee {tree.describe(campaign.unit)}, the campaign's unit"
    return None


def _refused(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


def _fields(campaign: Campaign) -> dict[str, str]:
    raw = msgspec.to_builtins(campaign) | {"state": campaign.state.value}  # the transition script reads it
    return {name: str(value) for name, value in raw.items()}


def _campaign(raw: dict[bytes, bytes]) -> Campaign:
    return msgspec.convert({k.decode(): v.decode() for k, v in raw.items()}, Campaign, strict=False)


class CampaignBook:
    """Create, approve, reject and report on campaigns."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        tree: UnitTree,
        operators: OperatorBook,
        *,
        audit: AuditLog | None = None,
        store: JobStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.tree = tree
        self.operators = operators
        self.audit = audit or operators.audit
        self.store = store or JobStore(redis, keys)
        self._clock = clock
        self._transition = redis.register_script(_TRANSITION)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), CHINA)

    async def create(
        self,
        creator: Operator,
        text: str,
        recipients: Sequence[tuple[str, str]],
        *,
        name: str,
        kind: Kind | str = Kind.NOTICE,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
        review: Review | None = None,
        audience: Audience | None = None,
    ) -> Campaign:
        """Store a campaign of `text` to (phone, recipient unit) pairs and/or a directory `audience`, pending approval.

        Refused (nothing stored) when the creator may not send it to every recipient (OutOfScope naming
        the masked numbers), a number is not a mobile number (ValueError), or review finds forbidden terms
        (ContentRefused naming them).
        """
        creator = await self.operators.current(creator)
        kind = Kind(kind)
        if kind not in CAMPAIGN_KINDS:
            raise ValueError(f"a campaign is a notice or internal message, not {kind}")
        if not name.strip() or not text.strip():
            raise ValueError("a campaign needs a name and a text")
        if "【" in text or "】" in text:
            raise ValueError("the text must not contain 【】: the signature is added from the creator's unit")
        sample: list[str] = []
        if audience is not None:  # recipients and their units from the directory: scope is checked on the truth
            from taxsms.directory.audiences import resolve as resolve_audience  # the directory uses governance
            from taxsms.directory.directory import Directory

            resolved = await resolve_audience(Directory(self.redis, self.keys), self.tree, audience)
            recipients, sample = [*recipients, *resolved.recipients], resolved.sample
        if not recipients:
            raise ValueError("a campaign needs recipients" + (f": nobody in {audience}" if audience else ""))
        reason = send_refusal(self.tree, creator, kind, creator.unit)
        if reason:
            raise OutOfScope(reason)
        terms = review(text) if review else []
        if terms:
            raise ContentRefused(sorted(set(terms)))

        phones: dict[str, str] = {}
        bad, outside = [], []
        for raw_phone, unit in recipients:
            try:
                phone = normalise_mobile(raw_phone)
            except JobError:
                bad.append(mask_phone(raw_phone))
                continue
            if send_refusal(self.tree, creator, kind, unit):
                outside.append(f"{mask_phone(phone)} ({self.tree.describe(unit)})")
            phones.setdefault(phone, unit)
        if outside:
            raise OutOfScope(
                f"operator {creator.id} of {self.tree.describe(creator.unit)} may not send {kind} to "
                f"{len(outside)} recipients outside its jurisdiction: {_refused(outside)}"
            )
        if bad:
            raise ValueError(f"{len(bad)} recipients are not mainland mobile numbers: {_refused(bad)}")

        now = self._now()
        campaign_id = f"cmp-{now:%Y%m%d}-{secrets.token_hex(4)}"
        signed = sign(text, self.tree.name_of(creator.unit), creator.name)
        jobs = []
        for n, (phone, unit) in enumerate(phones.items(), 1):
            job = Job(
                id=f"{campaign_id}-{n:06d}",
                kind=kind,
                to=phone,
                text=signed,
                unit=creator.unit,
                operator=creator.id,
                recipient_unit=unit,
                campaign=campaign_id,
                not_before=not_before,
                expires_at=expires_at,
            )
            try:
                jobs.append(encode_job(validate_job(job)))
            except JobError as error:
                raise ValueError(f"campaign job invalid: {error}") from None
        campaign = Campaign(
            campaign_id,
            name.strip(),
            kind,
            creator.unit,
            creator.id,
            signed,
            len(jobs),
            now,
            duplicates=len(recipients) - len(jobs),
            not_before=not_before,
            expires_at=expires_at,
            audience=str(audience or ""),
            sample="; ".join(sample or (f"{mask_phone(phone)} ({unit})" for phone, unit in list(phones.items())[:5])),
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            for start in range(0, len(jobs), CHUNK):
                pipe.rpush(self.keys.campaign_jobs(campaign_id), *jobs[start : start + CHUNK])
            pipe.hset(self.keys.campaign(campaign_id), mapping=_fields(campaign))
            pipe.zadd(self.keys.campaigns, {campaign_id: now.timestamp()})
            await pipe.execute()
        details = {"name": campaign.name, "kind": kind, "unit": creator.unit, "recipients": len(jobs), "text": signed}
        details["units"] = sorted(set(phones.values()))
        await self.audit.append(creator.id, Action.CAMPAIGN_CREATE, campaign_id, details)
        return campaign

    async def get(self, campaign_id: str) -> Campaign:
        raw = await self.redis.hgetall(self.keys.campaign(campaign_id))
        if not raw:
            raise NotFound(f"unknown campaign {campaign_id!r}")
        return _campaign(raw)

    async def recent(self, count: int = 50) -> list[Campaign]:
        """The newest campaigns first."""
        ids = await self.redis.zrevrange(self.keys.campaigns, 0, count - 1)
        return [await self.get(cid.decode()) for cid in ids]

    async def _decide(self, approver: Operator, campaign_id: str) -> tuple[Operator, Campaign]:
        approver = await self.operators.current(approver)
        campaign = await self.get(campaign_id)
        if campaign.state is not CampaignState.PENDING_APPROVAL:
            raise PermissionDenied(f"campaign {campaign_id} is {campaign.state}, not pending approval")
        creator = await self.operators.get(campaign.creator)
        reason = approval_refusal(self.tree, creator, approver, campaign)
        if reason:
            raise PermissionDenied(reason)
        return approver, campaign

    async def _move(self, campaign_id: str, to: CampaignState, fields: dict[str, str]) -> None:
        args = [CampaignState.PENDING_APPROVAL.value, "state", to.value]
        for name, value in fields.items():
            args += [name, value]
        result = await self._transition(keys=[self.keys.campaign(campaign_id)], args=args)
        if result != b"ok":
            raise PermissionDenied(f"campaign {campaign_id} is {result.decode()}, not pending approval")

    async def approve(self, approver: Operator, campaign_id: str, *, review: Review | None = None) -> int:
        """Approve and enqueue the campaign's jobs; return how many were enqueued.

        `review`: check the text again (the forbidden-term list may have grown since creation).
        """
        approver, campaign = await self._decide(approver, campaign_id)
        terms = review(campaign.text) if review else []
        if terms:
            raise ContentRefused(sorted(set(terms)))
        now = self._now()
        await self._move(campaign_id, CampaignState.APPROVED, {"approver": approver.id, "decided_at": now.isoformat()})
        added = 0
        jobs_key = self.keys.campaign_jobs(campaign_id)
        for start in range(0, campaign.recipients, CHUNK):
            payloads = await self.redis.lrange(jobs_key, start, start + CHUNK - 1)
            batch = [msgspec.json.decode(p, type=Job) for p in payloads]
            added += await self.store.enqueue(batch)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.campaign(campaign_id), "enqueued", added)
            pipe.delete(jobs_key)
            await pipe.execute()
        details = {"creator": campaign.creator, "recipients": campaign.recipients, "enqueued": added}
        await self.audit.append(approver.id, Action.CAMPAIGN_APPROVE, campaign_id, details)
        return added

    async def reject(self, approver: Operator, campaign_id: str, reason: str) -> Campaign:
        """Reject the campaign: its jobs are dropped and never sent."""
        if not reason.strip():
            raise ValueError("give the reason for the rejection")
        approver, campaign = await self._decide(approver, campaign_id)
        now = self._now()
        fields = {"approver": approver.id, "decided_at": now.isoformat(), "reason": reason.strip()}
        await self._move(campaign_id, CampaignState.REJECTED, fields)
        await self.redis.delete(self.keys.campaign_jobs(campaign_id))
        details = {"creator": campaign.creator, "recipients": campaign.recipients, "reason": reason.strip()}
        await self.audit.append(approver.id, Action.CAMPAIGN_REJECT, campaign_id, details)
        return await self.get(campaign_id)

    async def status(self, campaign_id: str) -> CampaignStatus:
        """The record and how many of its jobs are in each state."""
        campaign = await self.get(campaign_id)
        if campaign.state is not CampaignState.APPROVED:
            state = State.PENDING_APPROVAL if campaign.state is CampaignState.PENDING_APPROVAL else State.REJECTED
            return CampaignStatus(campaign, {state.value: campaign.recipients})
        counts: dict[str, int] = {}
        for start in range(0, campaign.recipients, CHUNK):
            ids = [f"{campaign_id}-{n:06d}" for n in range(start + 1, min(start + CHUNK, campaign.recipients) + 1)]
            for state in await self.store.states(ids):
                name = state or "unknown"
                counts[name] = counts.get(name, 0) + 1
        return CampaignStatus(campaign, counts)
