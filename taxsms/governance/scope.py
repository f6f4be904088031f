"""Who may send what to whom: jurisdiction (the unit subtree) and the roles each message kind needs.

A unit reaches its own subtree: the province everyone, a city its city, a county its county. Roles:
notice needs publisher; overdue_filing / overdue_payment need collection at a county (the county
collection office); internal needs admin or publisher; reply needs staff12366; filing_reminder (normally
automatic, from upstream) needs collection. Upstream systems are authorised by an `UpstreamCredential`.
"""

from __future__ import annotations

from dataclasses import dataclass

from taxsms.governance import policy
from taxsms.governance.errors import OutOfScope
from taxsms.governance.operators import Operator, Role
from taxsms.governance.units import Level, UnitTree
from taxsms.queue.jobs import Job, Kind

KIND_ROLES: dict[Kind, frozenset[Role]] = {
    Kind.NOTICE: frozenset({Role.PUBLISHER}),
    Kind.OVERDUE_FILING: frozenset({Role.COLLECTION}),
    Kind.OVERDUE_PAYMENT: frozenset({Role.COLLECTION}),
    Kind.FILING_REMINDER: frozenset({Role.COLLECTION}),
    Kind.INTERNAL: frozenset({Role.ADMIN, Role.PUBLISHER}),
    Kind.REPLY: frozenset({Role.STAFF12366}),
}
COUNTY_ONLY = frozenset({Kind.OVERDUE_FILING, Kind.OVERDUE_PAYMENT})
UPSTREAM_KINDS = frozenset({Kind.FILING_REMINDER, Kind.OVERDUE_FILING, Kind.OVERDUE_PAYMENT})
#: What an API token may be granted: what upstream systems send (taxsms.governance.policy), plus the
#: campaign kinds, which it may only propose (POST /v1/campaigns, pending approval), never send.
TOKEN_KINDS = policy.UPSTREAM_KINDS | policy.CAMPAIGN_KINDS


def reaches(tree: UnitTree, sender_unit: str, recipient_unit: str) -> bool:
    """True when `recipient_unit` lies in `sender_unit`'s jurisdiction (its subtree)."""
    return tree.contains(sender_unit, recipient_unit)


def send_refusal(tree: UnitTree, operator: Operator, kind: Kind | str, recipient_unit: str) -> str | None:
    """Why `operator` may not send `kind` to a recipient of `recipient_unit`, or None if it may."""
    kind = Kind(kind)
    who = f"operator {operator.id} of {tree.describe(operator.unit)}"
    if not operator.active:
        return f"{who} is suspended"
    needed = KIND_ROLES[kind]
    if not needed & operator.roles:
        return f"{who} may not send {kind}: it needs the role {' or '.join(sorted(needed))}"
    if kind in COUNTY_ONLY and (operator.unit not in tree or tree.level_of(operator.unit) is not Level.COUNTY):
        return f"{who} may not send {kind}: only a county collection office sends it"
    if kind is Kind.REPLY and not recipient_unit:
        return None  # answering a taxpayer who wrote in, whoever they are
    if recipient_unit not in tree:
        return f"{who} may not send {kind} to a recipient of unknown unit {recipient_unit!r}"
    if not reaches(tree, operator.unit, recipient_unit):
        return f"{who} may not send {kind} to a recipient of {tree.describe(recipient_unit)}: outside its jurisdiction"
    return None


def token_grant_refusal(
    tree: UnitTree, operator: Operator, unit: str, kinds: frozenset[Kind], recipient_units: frozenset[str]
) -> str | None:
    """Why `operator` may not issue an API token for `unit`, `kinds` and `recipient_units`, or None (pure).

    An active, confirmed admin of `unit` or a unit above it may; the kinds are what upstream systems send
    (filing reminders, overdue notices, replies), plus notices and internal messages, which a token may only
    propose as a campaign pending approval; the recipient units lie in `unit`'s subtree ('*': all of it)."""
    who = f"operator {operator.id} of {tree.describe(operator.unit)}"
    if not operator.active:
        return f"{who} is suspended"
    if not operator.confirmed:
        return f"{who} is a new account not yet confirmed by the level above (taxsms operator confirm)"
    if not operator.is_admin:
        return f"{who} may not issue API tokens: it needs the role admin"
    if unit not in tree or not tree.contains(operator.unit, unit):
        return (
            f"{who} may not issue a token for {tree.describe(unit) if unit in tree else repr(unit)}: outside its unit"
        )
    grantable = TOKEN_KINDS
    if not kinds or kinds - grantable:
        extra = ", ".join(sorted(kinds - grantable)) or "none given"
        return f"a token sends {', '.join(sorted(grantable))} (not: {extra})"
    outside = sorted(u for u in recipient_units if u != "*" and (u not in tree or not tree.contains(unit, u)))
    if outside:
        return f"recipient units {', '.join(outside)} are not in {tree.describe(unit)}, the token's unit"
    return None


def check_send(tree: UnitTree, operator: Operator, kind: Kind | str, recipient_unit: str) -> None:
    """Raise OutOfScope naming operator, unit and recipient unit if the send is not allowed."""
    reason = send_refusal(tree, operator, kind, recipient_unit)
    if reason:
        raise OutOfScope(reason)


@dataclass(frozen=True, slots=True)
class UpstreamCredential:
    """An upstream system (e.g. the filing system) allowed to send `kinds` for `unit`'s jurisdiction.

    Its jobs are pre-approved: reminders and overdue notices, never staff-published notices.
    """

    name: str
    unit: str
    kinds: frozenset[Kind]

    def __post_init__(self) -> None:
        kinds = frozenset(Kind(kind) for kind in self.kinds)
        if not kinds or kinds - UPSTREAM_KINDS:
            allowed = ", ".join(sorted(UPSTREAM_KINDS))
            raise ValueError(f"upstream credential {self.name!r}: kinds must be among {allowed}")
        object.__setattr__(self, "kinds", kinds)


def upstream_refusal(cred: UpstreamCredential, job: Job, tree: UnitTree) -> str | None:
    """Why `cred` may not send `job`, or None if it may."""
    who = f"upstream {cred.name!r} of {tree.describe(cred.unit)}"
    if job.kind not in cred.kinds:
        return f"{who} may not send {job.kind} (allowed: {', '.join(sorted(cred.kinds))})"
    if job.unit and not reaches(tree, cred.unit, job.unit):
        return f"{who} may not issue in the name of {tree.describe(job.unit)}"
    if not job.recipient_unit:
        return f"{who}: job {job.id} has no recipient_unit, so its scope cannot be checked"
    if not reaches(tree, cred.unit, job.recipient_unit):
        return f"{who} may not send to a recipient of {tree.describe(job.recipient_unit)}: outside its jurisdiction"
    return None


def authorize_upstream(cred: UpstreamCredential, job: Job, tree: UnitTree) -> None:
    """Raise OutOfScope unless `cred` may send `job` (kind allowed, issuing and recipient units in scope)."""
    reason = upstream_refusal(cred, job, tree)
    if reason:
        raise OutOfScope(reason)
