"""Campaigns: a notice (or internal message) to many recipients, held until a second person approves it.

create() checks the creator's scope for every recipient and runs content review, then stores the campaign
(hash `keys.campaign(id)`, state pending_approval) and its jobs (list `keys.campaign_jobs(id)`, outside
every stream), signed with the unit's registered signature and the creator's real name. approve() by
another active, confirmed publisher or admin whose unit contains the campaign's (and who did not create the
creator's account within the confirmation period) checks the unit's quota and that none of the campaign's
job ids exists yet, records the grant the worker admits its jobs by (`keys.approved_campaigns`), then
enqueues the jobs; reject() drops them; cancel() stops a pending or approved one (its jobs not yet sent end
`rejected`). Every step, refusals included, is in the audit log.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import msgspec
from redis.asyncio import Redis

from taxsms.channels.smpp.text import segment_info
from taxsms.governance.accounting import Accounting
from taxsms.governance.audit import Action, AuditLog
from taxsms.governance.errors import NotFound, OutOfScope, PermissionDenied
from taxsms.governance.operators import CONFIRMATION_PERIOD_S, Operator, OperatorBook, Role, Status
from taxsms.governance.policy import PrincipalKind, keeper_suspended
from taxsms.governance.registry import PrincipalBook, PrincipalRecord, grant_json, load_review
from taxsms.governance.scope import send_refusal
from taxsms.governance.units import UnitTree
from taxsms.privacy import mask_phone
from taxsms.queue.jobs import CHINA, Job, JobError, Kind, State, encode_job, normalise_mobile, validate_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.templates.review import ContentRejected, ContentReview

if TYPE_CHECKING:
    from taxsms.directory.audiences import Audience
    from taxsms.directory.recipients import RecipientUnits

CHUNK = 1000
SHOWN = 10  # refused recipients named in an error message
CAMPAIGN_KINDS = frozenset({Kind.NOTICE, Kind.INTERNAL})
APPROVER_ROLES = frozenset({Role.PUBLISHER, Role.ADMIN})

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
    CANCELLED = "cancelled"


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


def approval_refusal(
    tree: UnitTree, creator: Operator, approver: Operator, campaign: Campaign, now: float | None = None
) -> str | None:
    """Why `approver` may not decide on `campaign` created by `creator`, or None if it may (pure). With `now`
    (approving, not rejecting): not if the approver created the creator's account within the period."""
    who = f"operator {approver.id} of {tree.describe(approver.unit)}"
    if approver.id == campaign.creator:
        return f"{who} created campaign {campaign.id} and may not approve it: a second person must"
    if not approver.active:
        return f"{who} is suspended"
    if not approver.confirmed:
        return f"{who} is a new account not yet confirmed by the level above (taxsms operator confirm)"
    if now is not None and creator.created_by == approver.id and now - creator.created_at < CONFIRMATION_PERIOD_S:
        days = CONFIRMATION_PERIOD_S // 86400
        return f"{who} created the account of {creator.id} less than {days} days ago and may not approve its campaigns"
    if not APPROVER_ROLES & approver.roles:
        return f"{who} may not approve campaigns: it needs the role publisher or admin"
    if not creator.active:
        why = f": {creator.suspended_reason}" if creator.suspended_reason else ""
        named = creator.id if ":" in creator.id else f"operator {creator.id}"  # token:ID for a token's proposal
        return f"the creator of campaign {campaign.id}, {named}, is suspended{why}"
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
        review: ContentReview | None = None,
        audience: Audience | None = None,
    ) -> Campaign:
        """Store a campaign of `text` to (phone, recipient unit) pairs and/or a directory `audience`, pending approval.

        Refused (nothing stored, the refusal audited) when the creator may not send it to every recipient
        (OutOfScope naming the masked numbers), is not confirmed, a number is not a mobile number
        (ValueError), or review finds forbidden terms (ContentRejected naming them). `review`: the term list
        (default: the one loaded in Redis, else the shipped one).
        """
        creator = await self.operators.current(creator)
        async with self._refusal_audited(creator.id, creator.unit, name, recipients):
            return await self._create(
                creator, text, recipients, name, Kind(kind), not_before, expires_at, review, audience
            )

    async def _create(
        self,
        creator: Operator,
        text: str,
        recipients: Sequence[tuple[str, str]],
        name: str,
        kind: Kind,
        not_before: datetime | None,
        expires_at: datetime | None,
        review: ContentReview | None,
        audience: Audience | None,
    ) -> Campaign:
        if not creator.confirmed:
            raise PermissionDenied(
                f"operator {creator.id} is a new account not yet confirmed by the level above (taxsms operator confirm)"
            )
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
        review = review or await load_review(self.redis, self.keys)
        review.ensure_clean(text)

        phones = await self._placed(
            recipients,
            lambda unit: not send_refusal(self.tree, creator, kind, unit),
            f"operator {creator.id} of {self.tree.describe(creator.unit)} may not send {kind}",
        )

        now = self._now()
        campaign_id = f"cmp-{now:%Y%m%d}-{secrets.token_hex(4)}"
        signed = sign(text, self.tree.get(creator.unit).sms_signature, creator.name)
        review.ensure_clean(signed)
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
                principal=f"{PrincipalKind.CAMPAIGN}:{campaign_id}",
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
        await self._store(campaign, jobs)
        details = {"name": campaign.name, "kind": kind, "unit": creator.unit, "recipients": len(jobs), "text": signed}
        details["units"] = sorted(set(phones.values()))
        await self.audit.append(creator.id, Action.CAMPAIGN_CREATE, campaign_id, details)
        return campaign

    async def propose(
        self,
        token: str,
        unit: str,
        text: str,
        recipients: Sequence[tuple[str, str]],
        *,
        name: str,
        kind: Kind | str = Kind.NOTICE,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> Campaign:
        """A campaign proposed by an API token (POST /v1/campaigns), pending approval like any other: a token
        may create one, never send one. The token must still be registered and granted `kind`; its recipients
        (a unit left out is taken from the directory) lie in its unit's subtree and its recipient units. The
        text is signed with the unit's registered signature; the approving operator's real name is added at
        approval (the approver answers for it). Refusals are audited as for operators. `token` is its tag
        ('token:ID'), `unit` its unit (the audit's, should the token be no registered one)."""
        record = await PrincipalBook(self.redis, self.keys).record(token)
        async with self._refusal_audited(token, unit, name, recipients):
            if record is None or record.kind is not PrincipalKind.TOKEN:
                raise PermissionDenied(f"{token} is not a registered API token")
            if why := await self._keeper_suspended(record):
                raise PermissionDenied(why)
            return await self._propose(record, text, recipients, name, Kind(kind), not_before, expires_at)

    @contextlib.asynccontextmanager
    async def _refusal_audited(
        self, principal: str, unit: str, name: str, recipients: Sequence[tuple[str, str]]
    ) -> AsyncIterator[None]:
        """Audit a refused creation of the campaign `name` (PermissionDenied, ContentRejected, ValueError), then
        let the refusal go on."""
        try:
            yield
        except (PermissionDenied, ContentRejected, ValueError) as error:
            details = {"unit": unit, "name": name, "reason": str(error), "recipients": len(recipients)}
            await self.audit.append(principal, Action.CAMPAIGN_REFUSED, name, details)
            raise

    async def _propose(
        self,
        record: PrincipalRecord,
        text: str,
        recipients: Sequence[tuple[str, str]],
        name: str,
        kind: Kind,
        not_before: datetime | None,
        expires_at: datetime | None,
    ) -> Campaign:
        tag = f"{record.kind}:{record.id}"
        if kind not in CAMPAIGN_KINDS:
            raise ValueError(f"a campaign is a notice or internal message, not {kind}")
        if kind not in record.kinds:
            raise PermissionDenied(f"{tag} was not granted {kind} (granted: {', '.join(sorted(record.kinds))})")
        if not name.strip() or not text.strip():
            raise ValueError("a campaign needs a name and a text")
        if "【" in text or "】" in text:
            raise ValueError("the text must not contain 【】: the signature is added from the token's unit")
        if not recipients:
            raise ValueError("a campaign needs recipients")
        review = await load_review(self.redis, self.keys)
        review.ensure_clean(text)
        scope = set(record.recipient_units)
        phones = await self._placed(
            recipients,
            lambda to: to in self.tree and self.tree.contains(record.unit, to) and ("*" in scope or to in scope),
            f"{tag} of {self.tree.describe(record.unit)} may not send {kind}",
        )
        now = self._now()
        campaign_id = f"cmp-{now:%Y%m%d}-{secrets.token_hex(4)}"
        signed = f"【{self.tree.get(record.unit).sms_signature}】{text.strip()}"  # + the approver's name
        review.ensure_clean(signed)
        jobs = [
            encode_job(
                validate_job(
                    Job(
                        id=f"{campaign_id}-{n:06d}", kind=kind, to=phone, text=signed, unit=record.unit,
                        recipient_unit=unit, campaign=campaign_id, not_before=not_before, expires_at=expires_at,
                        principal=f"{PrincipalKind.CAMPAIGN}:{campaign_id}",
                    )
                )
            )
            for n, (phone, unit) in enumerate(phones.items(), 1)
        ]  # fmt: skip
        sample = "; ".join(f"{mask_phone(phone)} ({unit})" for phone, unit in list(phones.items())[:5])
        campaign = Campaign(
            campaign_id, name.strip(), kind, record.unit, tag, signed, len(jobs), now,
            duplicates=len(recipients) - len(jobs), not_before=not_before, expires_at=expires_at, sample=sample,
        )  # fmt: skip
        await self._store(campaign, jobs)
        details = {"name": campaign.name, "kind": kind, "unit": record.unit, "recipients": len(jobs), "text": signed}
        details["units"] = sorted(set(phones.values()))
        await self.audit.append(tag, Action.CAMPAIGN_CREATE, campaign_id, details)
        return campaign

    async def _store(self, campaign: Campaign, jobs: list[bytes]) -> None:
        """Store a new campaign (pending approval) and its jobs, outside every stream, in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for start in range(0, len(jobs), CHUNK):
                pipe.rpush(self.keys.campaign_jobs(campaign.id), *jobs[start : start + CHUNK])
            pipe.hset(self.keys.campaign(campaign.id), mapping=_fields(campaign))
            pipe.zadd(self.keys.campaigns, {campaign.id: campaign.created_at.timestamp()})
            await pipe.execute()

    async def _creator(self, campaign: Campaign) -> Operator:
        """Who answers for the campaign as its creator: the operator, or for a token's proposal the token as
        an account (issued by `created_by` at `created_at`; suspended once revoked), so the approval rules are
        the same (no one approves what an account they created within the confirmation period proposed)."""
        if not campaign.creator.startswith(f"{PrincipalKind.TOKEN}:"):
            return await self.operators.get(campaign.creator)
        record = await PrincipalBook(self.redis, self.keys).record(campaign.creator)
        why = "the token was revoked" if record is None else await self._keeper_suspended(record)
        return Operator(
            campaign.creator, record.name if record else "", campaign.unit, frozenset(),
            status=Status.SUSPENDED if why else Status.ACTIVE, suspended_reason=why,
            created_by=record.created_by if record else "", created_at=record.created_at if record else 0.0,
            confirmed_by="token",
        )  # fmt: skip

    async def _keeper_suspended(self, record: PrincipalRecord) -> str:
        """Why a token may not propose (nor have its proposal approved): its keeper, the operator who issued
        it, is suspended (the rule the admission policy applies to its jobs); '' if not."""
        keeper = await self.operators.find(record.created_by) if record.created_by else None
        if keeper is None or keeper.active:
            return ""  # not an operator ('bootstrap'), or active
        return keeper_suspended(record.principal(), keeper.suspended_reason)

    async def _placed(
        self, recipients: Sequence[tuple[str, str]], reaches: Callable[[str], bool], refusal: str
    ) -> dict[str, str]:
        """Phone -> recipient unit for (phone, unit) pairs; a unit left out is one of the directory's units for
        the phone, one the sender `reaches` if it has any. Raises OutOfScope (`refusal` + the recipients it
        does not reach) or ValueError (numbers that are no mobile numbers, phones the directory lacks)."""
        phones: dict[str, str] = {}
        bad, outside, unknown = [], [], []
        directory = await self._directory_units(recipients)
        for raw_phone, unit in recipients:
            try:
                phone = normalise_mobile(raw_phone)
            except JobError:
                bad.append(mask_phone(raw_phone))
                continue
            if not unit:  # taken from the directory: one of the recipient's units the sender reaches
                found = sorted(directory.units(phone)) if directory is not None else []
                unit = ([u for u in found if reaches(u)] or found or [""])[0]
                if not unit:
                    unknown.append(mask_phone(phone))
                    continue
            if not reaches(unit):
                where = self.tree.describe(unit) if unit in self.tree else repr(unit)
                outside.append(f"{mask_phone(phone)} ({where})")
            phones.setdefault(phone, unit)
        if outside:
            raise OutOfScope(f"{refusal} to {len(outside)} recipients outside its jurisdiction: {_refused(outside)}")
        if bad:
            raise ValueError(f"{len(bad)} recipients are not mainland mobile numbers: {_refused(bad)}")
        if unknown:
            raise ValueError(
                f"{len(unknown)} recipients without a unit are not in the directory either: {_refused(unknown)}"
            )
        return phones

    async def _directory_units(self, recipients: Sequence[tuple[str, str]]) -> RecipientUnits | None:
        """The directory's units for the recipients given without one (one lookup), or None if all have one."""
        wanted = []
        for raw_phone, unit in recipients:
            if not unit:
                try:
                    wanted.append((normalise_mobile(raw_phone), ""))
                except JobError:
                    continue
        if not wanted:
            return None
        from taxsms.directory.recipients import RecipientUnits  # the directory uses governance

        directory = RecipientUnits(self.redis, self.keys)
        await directory.prefetch(wanted)
        return directory

    async def get(self, campaign_id: str) -> Campaign:
        raw = await self.redis.hgetall(self.keys.campaign(campaign_id))
        if not raw:
            raise NotFound(f"unknown campaign {campaign_id!r}")
        return _campaign(raw)

    async def recent(self, count: int = 50) -> list[Campaign]:
        """The newest campaigns first (`taxsms campaign list`)."""
        ids = await self.redis.zrevrange(self.keys.campaigns, 0, count - 1)
        return [await self.get(cid.decode()) for cid in ids]

    async def _decide(self, approver: Operator, campaign_id: str, *, approving: bool) -> tuple[Operator, Campaign]:
        approver = await self.operators.current(approver)
        campaign = await self.get(campaign_id)
        if campaign.state is not CampaignState.PENDING_APPROVAL:
            raise PermissionDenied(f"campaign {campaign_id} is {campaign.state}, not pending approval")
        creator = await self._creator(campaign)
        reason = approval_refusal(self.tree, creator, approver, campaign, self._clock() if approving else None)
        if reason:
            await self._refused(approver, campaign, reason)
        return approver, campaign

    async def _refused(self, actor: Operator, campaign: Campaign, reason: str) -> None:
        details = {"unit": campaign.unit, "creator": campaign.creator, "reason": reason}
        await self.audit.append(actor.id, Action.CAMPAIGN_REFUSED, campaign.id, details)
        raise PermissionDenied(reason)

    async def _move(self, campaign_id: str, to: CampaignState, fields: dict[str, str]) -> None:
        args = [CampaignState.PENDING_APPROVAL.value, "state", to.value]
        for name, value in fields.items():
            args += [name, value]
        result = await self._transition(keys=[self.keys.campaign(campaign_id)], args=args)
        if result != b"ok":
            raise PermissionDenied(f"campaign {campaign_id} is {result.decode()}, not pending approval")

    async def approve(self, approver: Operator, campaign_id: str, *, review: ContentReview | None = None) -> int:
        """Approve and enqueue the campaign's jobs; return how many were enqueued.

        Refused (and audited) when the text no longer passes review (the list may have grown since
        creation), the unit's quota for the month would be exceeded (with the numbers), or any of the
        campaign's job ids already exists (someone took them first).
        """
        approver, campaign = await self._decide(approver, campaign_id, approving=True)
        proposed = campaign.creator.startswith(f"{PrincipalKind.TOKEN}:")  # a token's: the approver signs it
        if proposed:
            campaign = msgspec.structs.replace(campaign, text=sign(campaign.text[campaign.text.index("】") + 1 :],
                                               self.tree.get(campaign.unit).sms_signature, approver.name))  # fmt: skip
        review = review or await load_review(self.redis, self.keys)
        try:
            review.ensure_clean(campaign.text)
        except ContentRejected as error:
            await self._refused(approver, campaign, str(error))
        now = self._now()
        segments = segment_info(campaign.text).segments * campaign.recipients
        quota = await Accounting(self.redis, self.keys, self.tree).check_quota(
            campaign.unit, f"{now:%Y-%m}", segments, campaign.kind
        )
        if not quota.ok:
            left = max((quota.quota or 0) - quota.used, 0)
            await self._refused(
                approver,
                campaign,
                f"campaign {campaign_id} needs {segments:,} segments but {self.tree.describe(campaign.unit)} has "
                f"{left:,} of its {quota.quota:,} left this month ({quota.used:,} used)",
            )
        taken = [job_id for job_id, state in zip(*await self._states(campaign), strict=True) if state is not None]
        if taken:
            await self._refused(
                approver, campaign, f"{len(taken)} of campaign {campaign_id}'s job ids exist already (e.g. {taken[0]})"
            )
        decided = {"approver": approver.id, "decided_at": now.isoformat()}
        if proposed:
            decided["text"] = campaign.text
        await self._move(campaign_id, CampaignState.APPROVED, decided)
        grant = grant_json(campaign.unit, campaign.kind, approver.id if proposed else campaign.creator)
        await self.redis.hset(self.keys.approved_campaigns, campaign_id, grant)
        added = 0
        jobs_key = self.keys.campaign_jobs(campaign_id)
        for start in range(0, campaign.recipients, CHUNK):
            payloads = await self.redis.lrange(jobs_key, start, start + CHUNK - 1)
            batch = [msgspec.json.decode(p, type=Job) for p in payloads]
            if proposed:
                batch = [msgspec.structs.replace(job, text=campaign.text, operator=approver.id) for job in batch]
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
        approver, campaign = await self._decide(approver, campaign_id, approving=False)
        now = self._now()
        fields = {"approver": approver.id, "decided_at": now.isoformat(), "reason": reason.strip()}
        await self._move(campaign_id, CampaignState.REJECTED, fields)
        await self.redis.delete(self.keys.campaign_jobs(campaign_id))
        details = {"creator": campaign.creator, "recipients": campaign.recipients, "reason": reason.strip()}
        await self.audit.append(approver.id, Action.CAMPAIGN_REJECT, campaign_id, details)
        return await self.get(campaign_id)

    async def cancel(self, actor: Operator, campaign_id: str, reason: str) -> Campaign:
        """Cancel a pending or approved campaign: nothing more of it is sent (its queued and delayed jobs end
        rejected at the worker; parts already submitted are not recalled). By its creator or anyone who could
        approve it."""
        if not reason.strip():
            raise ValueError("give the reason for the cancel")
        actor = await self.operators.current(actor)
        campaign = await self.get(campaign_id)
        if campaign.state not in (CampaignState.PENDING_APPROVAL, CampaignState.APPROVED):
            raise PermissionDenied(f"campaign {campaign_id} is {campaign.state}")
        if actor.id != campaign.creator:
            creator = await self._creator(campaign)
            refusal = approval_refusal(self.tree, creator, actor, campaign)
            if refusal:
                await self._refused(actor, campaign, refusal)
        fields = {
            "state": CampaignState.CANCELLED.value,
            "reason": reason.strip(),
            "decided_at": self._now().isoformat(),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.cancelled_campaigns, campaign_id, reason.strip())
            pipe.hdel(self.keys.approved_campaigns, campaign_id)
            pipe.hset(self.keys.campaign(campaign_id), mapping=fields)
            pipe.delete(self.keys.campaign_jobs(campaign_id))
            await pipe.execute()
        details = {"unit": campaign.unit, "was": campaign.state.value, "reason": reason.strip()}
        await self.audit.append(actor.id, Action.CAMPAIGN_CANCEL, campaign_id, details)
        return await self.get(campaign_id)

    async def _states(self, campaign: Campaign) -> tuple[list[str], list[str | None]]:
        """The campaign's job ids and their states (None: no such job)."""
        ids = [f"{campaign.id}-{n:06d}" for n in range(1, campaign.recipients + 1)]
        states: list[str | None] = []
        for start in range(0, len(ids), CHUNK):
            states += await self.store.states(ids[start : start + CHUNK])
        return ids, states

    async def status(self, campaign_id: str) -> CampaignStatus:
        """The record and how many of its jobs are in each state."""
        campaign = await self.get(campaign_id)
        if campaign.state is CampaignState.PENDING_APPROVAL:
            return CampaignStatus(campaign, {State.PENDING_APPROVAL.value: campaign.recipients})
        if campaign.state is CampaignState.REJECTED or not campaign.approver:
            return CampaignStatus(campaign, {State.REJECTED.value: campaign.recipients})
        counts: dict[str, int] = {}
        for state in (await self._states(campaign))[1]:
            name = state or "unknown"
            counts[name] = counts.get(name, 0) + 1
        return CampaignStatus(campaign, counts)
