"""The store edge of the admission policy: upstream principals in Redis, and the snapshot admission reads.

`PrincipalBook` keeps the upstream senders (API tokens and registered intake systems) in the hash
`keys.principals` (tag -> JSON: unit, kinds, recipient units, and the operator who issued or registered it:
its keeper, see `Principal.keeper`). `load_registry` reads, in one round trip, everything
`taxsms.governance.policy.admit` needs: units, unit suspensions, operators, principals, approved and
cancelled campaigns and the forbidden-term list.
"""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from taxsms.governance.operators import Operator
from taxsms.governance.policy import (
    ANY_UNIT,
    UPSTREAM_KINDS,
    CampaignGrant,
    DirectoryLookup,
    Principal,
    PrincipalKind,
    Registry,
)
from taxsms.governance.units import Unit, UnitTree
from taxsms.queue.jobs import Kind
from taxsms.queue.keys import Keys
from taxsms.templates.review import ContentReview, ReviewListError


class PrincipalRecord(msgspec.Struct, frozen=True):
    kind: PrincipalKind
    id: str
    unit: str
    kinds: list[Kind]
    recipient_units: list[str] = msgspec.field(default_factory=lambda: [ANY_UNIT])
    name: str = ""
    created_by: str = ""  # the operator who issued or registered it
    created_at: float = 0.0

    def principal(self) -> Principal:
        kinds, scope = frozenset(self.kinds), frozenset(self.recipient_units)
        return Principal(self.kind, self.id, self.unit, kinds, scope, keeper=self.created_by)


class GrantRecord(msgspec.Struct, frozen=True):
    unit: str
    kind: Kind
    creator: str


_principal = msgspec.json.Decoder(PrincipalRecord)
_grant = msgspec.json.Decoder(GrantRecord)
_unit = msgspec.json.Decoder(Unit)
_operator = msgspec.json.Decoder(Operator)


def upstream_kinds(kinds: set[str] | frozenset[str] | list[str]) -> list[Kind]:
    """Validated kinds for an upstream principal; ValueError for notices and internal messages."""
    try:
        parsed = sorted({Kind(kind) for kind in kinds})
    except ValueError as exc:
        raise ValueError(f"unknown kind: {exc}") from None
    if not parsed or set(parsed) - UPSTREAM_KINDS:
        allowed = ", ".join(sorted(UPSTREAM_KINDS))
        raise ValueError(f"an upstream sender sends {allowed}; notices and internal messages need a campaign")
    return parsed


class PrincipalBook:
    """Register, look up and remove upstream principals."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def register(self, principal: Principal, name: str = "", *, at: float = 0.0) -> None:
        """Store `principal` (its keeper recorded as created_by), registered at `at`."""
        record = PrincipalRecord(
            principal.kind,
            principal.id,
            principal.unit,
            sorted(principal.kinds),
            sorted(principal.recipient_units),
            name,
            principal.keeper,
            at,
        )
        await self.redis.hset(self.keys.principals, principal.tag, msgspec.json.encode(record))

    async def record(self, tag: str) -> PrincipalRecord | None:
        raw = await self.redis.hget(self.keys.principals, tag)
        return None if raw is None else _principal.decode(raw)

    async def get(self, tag: str) -> Principal | None:
        found = await self.record(tag)
        return None if found is None else found.principal()

    async def all(self) -> list[PrincipalRecord]:
        raw = await self.redis.hgetall(self.keys.principals)
        return sorted((_principal.decode(v) for v in raw.values()), key=lambda r: (r.kind, r.id))

    async def remove(self, tag: str) -> bool:
        return bool(await self.redis.hdel(self.keys.principals, tag))


async def load_review(redis: Redis, keys: Keys) -> ContentReview:
    """The term list loaded in Redis, else the shipped one."""
    try:
        return await ContentReview.from_redis(redis, keys)
    except ReviewListError:
        return ContentReview.from_file()


async def load_registry(redis: Redis, keys: Keys, *, directory: DirectoryLookup | None = None) -> Registry:
    """A snapshot of everything admission reads (one pipelined round trip)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.units)
        pipe.hgetall(keys.suspended_units)
        pipe.hgetall(keys.operators)
        pipe.hgetall(keys.principals)
        pipe.hgetall(keys.approved_campaigns)
        pipe.hgetall(keys.cancelled_campaigns)
        pipe.get(keys.forbidden_terms)
        units, suspended, operators, principals, approved, cancelled, terms = await pipe.execute()
    tree = UnitTree(_unit.decode(v) for v in units.values())
    review = ContentReview.from_json(terms) if terms is not None else ContentReview.from_file()
    return Registry(
        tree,
        review,
        suspended_units={k.decode(): msgspec.json.decode(v).get("reason", "") for k, v in suspended.items()},
        operators={k.decode(): _operator.decode(v) for k, v in operators.items()},
        principals={k.decode(): _principal.decode(v).principal() for k, v in principals.items()},
        campaigns={k.decode(): _grant_of(k.decode(), v) for k, v in approved.items()},
        cancelled={k.decode(): v.decode() for k, v in cancelled.items()},
        directory=directory,
    )


def _grant_of(campaign_id: str, raw: bytes) -> CampaignGrant:
    record = _grant.decode(raw)
    return CampaignGrant(campaign_id, record.unit, record.kind, record.creator)


def grant_json(unit: str, kind: Kind, creator: str) -> bytes:
    return msgspec.json.encode(GrantRecord(unit, kind, creator))
