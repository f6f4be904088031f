"""The admission policy: what a principal may send, checked the same way on every path (pure).

Every outgoing job names its principal (`Job.principal`, e.g. `token:1a2b...`, `system:filing`,
`operator:E1003`, `campaign:cmp-...`, `service:replies`). `admit(job, principal, registry)` returns the job
as it may go out (issuing unit and operator filled in, the registered signature prepended, the operator's
real name appended where the kind calls for it, the principal recorded) or raises `Refused` naming the field,
a short code and the reason. It is idempotent: admitting an admitted job returns it unchanged, so the worker
applies it again at admission and nothing that changed since (a suspension, a cancel, a longer term list)
slips through. The rules (Art. 4, 7, 8, 10, 11 of the measures):

- anonymous jobs are refused; a suspended operator, a token or system whose issuing operator (its keeper) is
  suspended, a suspended unit (or a unit under a suspended one) and a cancelled campaign send nothing;
- upstream systems (API tokens, registered intake systems) send filing reminders, overdue notices and
  replies, for their own unit, to recipients within it; notices and internal messages go out only as jobs
  of an approved campaign; an operator sends directly what its roles allow except those two;
- the recipient's unit is required (or found by the directory hook) and must lie in the sender's subtree;
- the signature is the unit's registered one: a text carrying any other 【...】 is refused;
- content review on the final text (and on each template variable; the worker reviews the rendered text).

The store calls (loading a `Registry` snapshot) live in taxsms/governance/registry.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec

from taxsms.governance.operators import Operator, Role
from taxsms.governance.units import UnitTree
from taxsms.queue.jobs import Job, JobError, Kind
from taxsms.templates.review import ContentReview

ANY_UNIT = "*"
CAMPAIGN_ID_PREFIX = "cmp-"
UPSTREAM_KINDS = frozenset({Kind.FILING_REMINDER, Kind.OVERDUE_FILING, Kind.OVERDUE_PAYMENT, Kind.REPLY})
CAMPAIGN_KINDS = frozenset({Kind.NOTICE, Kind.INTERNAL})
#: What an operator may send directly (campaign kinds never), by role.
OPERATOR_KINDS: dict[Role, frozenset[Kind]] = {
    Role.COLLECTION: frozenset({Kind.OVERDUE_FILING, Kind.OVERDUE_PAYMENT, Kind.FILING_REMINDER}),
    Role.STAFF12366: frozenset({Kind.REPLY}),
}
SIGNATURE = re.compile(r"【([^【】]*)】")
NAME_SUFFIX = "（经办人：{}）"
#: A recipient's possible units from the directory, (phone, taxpayer id) -> units (empty: unknown), for a job
#: that leaves `recipient_unit` out (taxsms.directory.recipients, fetched per batch before admission).
DirectoryLookup = Callable[[str, str], Collection[str]]


class PrincipalKind(StrEnum):
    TOKEN = "token"  # an API token (api/auth.py)
    SYSTEM = "system"  # a registered intake system (raw intake entries, governance/systems.py)
    OPERATOR = "operator"  # an authenticated real-name operator
    CAMPAIGN = "campaign"  # an approved campaign's jobs
    SERVICE = "service"  # the reply service (automatic answers)


#: The members the per-job checks compare with, bound once: looking a member up (`PrincipalKind.CAMPAIGN`)
#: costs about 0.2 µs on Python 3.11, and the worker's second look at a token's job made five such lookups.
_OPERATOR, _CAMPAIGN, _SERVICE, _REPLY = (
    PrincipalKind.OPERATOR,
    PrincipalKind.CAMPAIGN,
    PrincipalKind.SERVICE,
    Kind.REPLY,
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a job is sent by: bound to a unit and to the kinds it may send."""

    kind: PrincipalKind
    id: str
    unit: str
    kinds: frozenset[Kind]
    recipient_units: frozenset[str] = frozenset({ANY_UNIT})  # within `unit`'s subtree; '*' = all of it
    name: str = ""  # an operator's (or a campaign creator's) real name, signed where the kind calls for it
    operator: str = ""  # the operator id a job of this principal names
    keeper: str = ""  # a token's or system's issuing operator: it answers to them (sends nothing while suspended)
    tag: str = field(init=False, default="")  # 'kind:id', as jobs carry it

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", f"{self.kind}:{self.id}")


class Refused(JobError):
    """A job the policy refuses: `field` and `reason` (as JobError), `code` a short machine-readable word."""

    def __init__(self, field: str, code: str, reason: str) -> None:
        super().__init__(field, reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class CampaignGrant:
    """An approved campaign, as the policy needs it: its unit, kind and creator."""

    id: str
    unit: str
    kind: Kind
    creator: str


@dataclass(slots=True)
class Registry:
    """A snapshot of what admission reads: the unit tree, suspensions, operators, principals, campaigns,
    the content review. Build it with taxsms.governance.registry.load_registry (or directly, in tests); the
    tree and the operators are indexed when it is built."""

    tree: UnitTree
    review: ContentReview
    suspended_units: Mapping[str, str] = field(default_factory=dict)  # unit -> reason
    operators: Mapping[str, Operator] = field(default_factory=dict)
    principals: Mapping[str, Principal] = field(default_factory=dict)  # tag -> token / system
    campaigns: Mapping[str, CampaignGrant] = field(default_factory=dict)  # approved, not cancelled
    cancelled: Mapping[str, str] = field(default_factory=dict)  # campaign id -> reason
    directory: DirectoryLookup | None = None
    _ancestors: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _heads: dict[str, str] = field(default_factory=dict, repr=False)  # unit -> '【signature】'
    _suspended_operators: dict[str, str] = field(default_factory=dict, repr=False)  # operator id -> reason
    _clean: dict[str, bool] = field(default_factory=dict, repr=False)
    _clean_digest: str = field(default="", repr=False)
    _campaign_principals: dict[str, Principal] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._ancestors = {unit.id: frozenset(u.id for u in self.tree.path(unit.id)) for unit in self.tree}
        self._heads = {unit.id: f"【{unit.sms_signature}】" for unit in self.tree}
        self._suspended_operators = {op.id: op.suspended_reason for op in self.operators.values() if not op.active}

    # -- lookups ---------------------------------------------------------------------------------------

    def within(self, ancestor: str, unit: str) -> bool:
        """True when `unit` is `ancestor` or below it."""
        return ancestor in self._ancestors.get(unit, ())

    def suspension(self, unit: str) -> str | None:
        """Why `unit` may not send (it or a unit above it is suspended), or None."""
        if not self.suspended_units:
            return None
        for above in self._ancestors.get(unit, ()):
            reason = self.suspended_units.get(above)
            if reason is not None:
                where = "" if above == unit else f" (under {self.tree.describe(above)})"
                return f"unit {self.tree.describe(unit)} is suspended{where}: {reason}"
        return None

    def signature(self, unit: str) -> str:
        """The unit's registered SMS signature, without the 【】."""
        return self.tree.get(unit).sms_signature

    def head(self, unit: str) -> str:
        """The unit's registered signature as a text starts with it: '【signature】' (KeyError: unknown unit)."""
        return self._heads[unit]

    def operator_name(self, operator_id: str) -> str:
        op = self.operators.get(operator_id)
        return op.name if op else ""

    def is_clean(self, text: str) -> bool:
        """Content review, remembered per text (campaigns and templates repeat texts)."""
        review = self.review
        if self._clean_digest != review.digest:
            self._clean.clear()
            self._clean_digest = review.digest
        clean = self._clean.get(text)
        if clean is None:
            if len(self._clean) >= 4096:
                self._clean.clear()
            clean = self._clean[text] = review.is_clean(text)
        return clean

    def resolve(self, tag: str) -> Principal | None:
        """The principal a job names, as it stands now (None: unknown, removed, or a campaign not approved)."""
        kind, _, ident = tag.partition(":")
        if kind == _OPERATOR:
            op = self.operators.get(ident)
            return operator_principal(op) if op else None
        if kind == _CAMPAIGN:
            found = self._campaign_principals.get(ident)
            if found is None:
                grant = self.campaigns.get(ident)
                if grant is None:
                    return None
                creator = self.operators.get(grant.creator)
                name = creator.name if creator else ""
                kinds = frozenset({grant.kind})
                found = Principal(PrincipalKind.CAMPAIGN, ident, grant.unit, kinds, name=name, operator=grant.creator)
                self._campaign_principals[ident] = found
            return found
        if kind == _SERVICE and ident in self.tree:
            return service_principal(ident)
        return self.principals.get(tag)


def operator_principal(op: Operator) -> Principal:
    """An operator as a principal: the kinds its roles send directly."""
    kinds = frozenset(kind for role in op.roles for kind in OPERATOR_KINDS.get(role, ()))
    return Principal(PrincipalKind.OPERATOR, op.id, op.unit, kinds, name=op.name, operator=op.id)


def service_principal(unit: str) -> Principal:
    """The reply service answering for `unit` (the province's or a city's 12366 centre): automatic replies."""
    return Principal(PrincipalKind.SERVICE, unit, unit, frozenset({Kind.REPLY}))


def campaign_principal(campaign_id: str, unit: str, kind: Kind, creator: Operator) -> Principal:
    return Principal(
        PrincipalKind.CAMPAIGN, campaign_id, unit, frozenset({kind}), name=creator.name, operator=creator.id
    )


# -- the rules -------------------------------------------------------------------------------------------


def _who(principal: Principal, registry: Registry) -> str:
    return f"{principal.kind} {principal.id} of {registry.tree.describe(principal.unit)}"


def _standing(principal: Principal, registry: Registry, job: Job) -> None:
    """Refuse a principal that may not send at all now."""
    if principal.unit not in registry._heads:
        raise Refused("principal", "unknown_unit", f"{principal.tag} is bound to unknown unit {principal.unit!r}")
    reason = registry.suspension(principal.unit)
    if reason:
        raise Refused("unit", "suspended", reason)
    if principal.operator:
        op = registry.operators.get(principal.operator)
        if op is None or not op.active:
            why = op.suspended_reason if op else "no such operator"
            raise Refused(
                "operator", "suspended", f"operator {principal.operator} is suspended and may not send: {why}"
            )
    if principal.keeper and registry._suspended_operators:
        why = registry._suspended_operators.get(principal.keeper)  # not an operator ('bootstrap'): not checked
        if why is not None:
            raise Refused("operator", "suspended", keeper_suspended(principal, why))
    if principal.kind is _CAMPAIGN:
        cancelled = registry.cancelled.get(principal.id)
        if cancelled is not None:
            raise Refused("campaign", "cancelled", f"campaign {principal.id} was cancelled: {cancelled}")
        if job.campaign != principal.id:
            raise Refused("campaign", "campaign", f"job {job.id} is not a job of campaign {principal.id}")


def keeper_suspended(principal: Principal, reason: str) -> str:
    """Why a token or system sends nothing: its keeper, the operator who issued or registered it, is suspended
    for `reason`."""
    issued = "registered" if principal.kind is PrincipalKind.SYSTEM else "issued"
    return f"{principal.tag} was {issued} by operator {principal.keeper}, who is suspended: {reason}"


def _kind(principal: Principal, job: Job, registry: Registry) -> None:
    if job.kind in principal.kinds and (job.kind not in CAMPAIGN_KINDS or principal.kind is _CAMPAIGN):
        return  # notices and internal messages: only as an approved campaign's jobs, whatever a token was granted
    if job.kind in CAMPAIGN_KINDS:
        raise Refused(
            "kind",
            "needs_approval",
            f"{_who(principal, registry)} may not send {job.kind} directly: notices and internal messages go out "
            "only through an approved campaign (taxsms campaign create, then a second person approves)",
        )
    allowed = ", ".join(sorted(principal.kinds)) or "nothing"
    raise Refused("kind", "kind", f"{_who(principal, registry)} may not send {job.kind} (allowed: {allowed})")


def _recipient_unit(principal: Principal, job: Job, registry: Registry) -> str:
    unit = job.recipient_unit
    if not unit:
        if job.kind is _REPLY:
            return ""  # an answer to whoever wrote in
        found = registry.directory(job.to, job.taxpayer_id) if registry.directory is not None else ()
        if not found:
            raise Refused(
                "recipient_unit",
                "scope",
                "required: the recipient's unit (the directory does not know this recipient), so the sender's "
                "scope can be checked",
            )
        mine = sorted(u for u in found if principal.unit in registry._ancestors.get(u, ()))
        unit = mine[0] if mine else sorted(found)[0]  # one in the sender's scope, else refused below
    above = registry._ancestors.get(unit)
    if above is None:
        raise Refused("recipient_unit", "scope", f"unknown unit {unit!r}")
    if principal.unit not in above or not (ANY_UNIT in principal.recipient_units or unit in principal.recipient_units):
        raise Refused(
            "recipient_unit",
            "scope",
            f"{_who(principal, registry)} may not send to a recipient of {registry.tree.describe(unit)}: "
            "outside its jurisdiction",
        )
    return unit


def _signed(principal: Principal, job: Job, registry: Registry, text: str) -> str:
    """`text` with the registered signature first (and the operator's name last, where it belongs)."""
    head = registry.head(principal.unit)
    suffix = NAME_SUFFIX.format(principal.name) if principal.name else ""
    if "【" not in text and "】" not in text:  # the common case: a text without any signature of its own
        body = text.strip()
        if suffix and body.endswith(suffix):
            body = body[: -len(suffix)]
        if not body.strip():
            raise Refused("text", "text", "empty once the signature is taken off")
        return head + body + suffix
    own = head[1:-1]
    for found in SIGNATURE.findall(text):
        if found != own:
            raise Refused(
                "text",
                "signature",
                f"the text carries the signature 【{found}】, but {registry.tree.describe(principal.unit)} signs "
                f"【{own}】: the signature is added from the unit registry, not taken from the text",
            )
    body = text.strip()
    while body.startswith(head):
        body = body[len(head) :].strip()
    while body.endswith(head):
        body = body[: -len(head)].strip()
    if suffix and body.endswith(suffix):
        body = body[: -len(suffix)]
    if "【" in body or "】" in body:
        raise Refused(
            "text", "signature", "a stray 【 or 】 in the text: the signature is added from the unit registry"
        )
    if not body.strip():
        raise Refused("text", "text", "empty once the signature is taken off")
    return head + body + suffix


def _review(job: Job, registry: Registry, text: str) -> None:
    if text and registry.is_clean(text):
        return
    texts = [text] if text else [str(value) for value in job.vars.values()]
    for candidate in texts:
        if text == "" and ("【" in candidate or "】" in candidate):
            raise Refused("vars", "signature", "a template variable may not carry 【】: the signature is the unit's")
        if not registry.is_clean(candidate):
            matches = registry.review.check(candidate)
            found = "; ".join(f"{m.term} ({m.category}) as {m.found!r}" for m in matches)
            raise Refused("text" if text else "vars", "content", f"forbidden content: {found}")


def admit(job: Job, principal: Principal | None, registry: Registry) -> Job:
    """The job as `principal` may send it, or Refused (see the module docstring)."""
    if principal is None:
        raise Refused(
            "principal",
            "anonymous",
            "anonymous jobs are refused: send with an API token, a registered system or as an authenticated operator",
        )
    _standing(principal, registry, job)
    _kind(principal, job, registry)
    if job.id.startswith(CAMPAIGN_ID_PREFIX) and principal.kind is not _CAMPAIGN:
        raise Refused("id", "reserved", f"job ids starting {CAMPAIGN_ID_PREFIX!r} are reserved for campaigns")
    if job.unit and job.unit != principal.unit:
        raise Refused(
            "unit",
            "scope",
            f"{_who(principal, registry)} may not issue in the name of {registry.tree.describe(job.unit)}",
        )
    if job.operator and job.operator != principal.operator:
        raise Refused(
            "operator",
            "signature",
            f"{_who(principal, registry)} may not sign as operator {job.operator!r}: only that operator, logged in",
        )
    recipient_unit = _recipient_unit(principal, job, registry)
    text = _signed(principal, job, registry, job.text) if job.text else ""
    _review(job, registry, text)
    reviewed = registry.review.digest if text else ""
    return msgspec.structs.replace(
        job,
        unit=principal.unit,
        operator=principal.operator,
        recipient_unit=recipient_unit,
        text=text,
        principal=principal.tag,
        reviewed=reviewed,
    )


def readmit(job: Job, principal: Principal, registry: Registry) -> Job:
    """admit() for the worker's second look at a job admitted before: the same rules, with a fast path for a
    job that is exactly as admission left it (signature in place, reviewed against the list in force); any
    doubt goes through admit() in full."""
    text = job.text
    if (
        job.principal != principal.tag
        or job.unit != principal.unit
        or job.operator != principal.operator
        or job.kind not in principal.kinds
        or not text
        or job.reviewed != registry.review.digest
        or text.count("【") != 1
        or not text.startswith(registry.head(principal.unit))
        or (principal.name and not text.endswith(NAME_SUFFIX.format(principal.name)))
    ):
        return admit(job, principal, registry)
    _standing(principal, registry, job)
    unit = job.recipient_unit
    in_scope = (
        registry.within(principal.unit, unit)
        and (ANY_UNIT in principal.recipient_units or unit in principal.recipient_units)
        if unit
        else job.kind is _REPLY
    )
    reserved = principal.kind is not _CAMPAIGN and job.id.startswith(CAMPAIGN_ID_PREFIX)
    return job if in_scope and not reserved else admit(job, principal, registry)
