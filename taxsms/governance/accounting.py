"""Segments sent per unit, month and kind (the province pays for everything sent), and monthly quotas.

The dispatcher counts segments in the hash `keys.usage('YYYY-MM')`: '<unit>|<kind>' -> segments, plus
'<unit>|*' (all kinds). Reports roll the counts up the unit tree: a city's total includes its counties.
A unit's quota (`keys.quota(unit)`, segments a month) is checked against the unit's own usage, as the
dispatcher's claim script does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from taxsms.governance.units import UnitTree
from taxsms.queue.keys import Keys
from taxsms.queue.store import sum_hashes

ALL_KINDS = "*"
TOTAL = "total"
WARNING_RATIO = 0.8
BULK_KINDS = frozenset({"notice", "internal"})  # stopped at the quota (the dispatcher's quota_kinds)
EXEMPT_KINDS = frozenset({"reply"})  # answers to taxpayers are never held back
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

Usage = dict[str, dict[str, int]]  # unit -> kind -> segments


def check_month(month: str) -> str:
    """'YYYY-MM' or ValueError."""
    if not _MONTH.fullmatch(month):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    return month


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_usage(raw: Mapping[bytes, bytes] | Mapping[str, str]) -> Usage:
    """unit -> kind -> segments from the hash fields (the '*' totals are left out: kinds add up to them)."""
    usage: Usage = {}
    for field, value in raw.items():
        unit, sep, kind = _text(field).rpartition("|")
        if not sep or kind == ALL_KINDS:
            continue
        kinds = usage.setdefault(unit, {})
        kinds[kind] = kinds.get(kind, 0) + int(value)
    return usage


def roll_up(tree: UnitTree, usage: Usage) -> Usage:
    """unit -> kind -> segments of the unit and every unit below it, plus 'total' per unit.

    Every unit of the tree is listed (zero when silent); units not in the tree are kept as they are.
    """
    rolled: Usage = {unit.id: {} for unit in tree}
    for unit, kinds in usage.items():
        targets = [u.id for u in tree.path(unit)] if unit in tree else [unit]
        for target in targets:
            row = rolled.setdefault(target, {})
            for kind, count in kinds.items():
                row[kind] = row.get(kind, 0) + count
    for row in rolled.values():
        row[TOTAL] = sum(count for kind, count in row.items() if kind != TOTAL)
    return rolled


@dataclass(frozen=True, slots=True)
class UsageReport:
    """One month: each unit's own segments and its rolled-up segments, by kind (with 'total')."""

    month: str
    own: Usage
    rolled: Usage

    def to_dict(self, tree: UnitTree) -> dict[str, Any]:
        units = []
        for unit in tree.subtree(tree.root) if tree.root else []:
            units.append(
                {
                    "unit": unit.id,
                    "name": unit.name,
                    "level": unit.level.value,
                    "parent": unit.parent,
                    "own": self.own.get(unit.id, {}),
                    "total": self.rolled.get(unit.id, {TOTAL: 0}),
                }
            )
        unknown = {unit: kinds for unit, kinds in self.own.items() if unit not in tree}
        return {"month": self.month, "units": units, "unknown_units": unknown}


class QuotaLevel(StrEnum):
    OK = "ok"
    WARNING = "warning"  # at or past 80% of the quota
    STOP = "stop"  # quota used up: bulk kinds must not be sent


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    level: QuotaLevel
    used: int
    adding: int
    quota: int | None  # None: the unit has no quota

    @property
    def ok(self) -> bool:
        return self.level is not QuotaLevel.STOP


def quota_level(used: int, adding: int, quota: int | None, kind: str = "notice") -> QuotaLevel:
    """Pure rule: STOP when a bulk kind would go past the quota (or it is used up already), WARNING once
    used + adding reaches 80% of it (or past it, for kinds that are not stopped), replies never held back."""
    if quota is None or kind in EXEMPT_KINDS:
        return QuotaLevel.OK
    after = used + adding
    if kind in BULK_KINDS and (used >= quota or after > quota):
        return QuotaLevel.STOP
    if after >= WARNING_RATIO * quota:
        return QuotaLevel.WARNING
    return QuotaLevel.OK


class Accounting:
    """Usage reports and quota checks on the Redis counters of one prefix (read-only but for quotas)."""

    def __init__(self, redis: Redis, keys: Keys, tree: UnitTree) -> None:
        self.redis = redis
        self.keys = keys
        self.tree = tree

    async def report(self, month: str) -> UsageReport:
        """The month's usage per unit, own and rolled up the tree."""
        month = check_month(month)
        own = parse_usage(await sum_hashes(self.redis, self.keys, lambda shard: shard.usage(month)))
        return UsageReport(month, own, roll_up(self.tree, own))

    async def get_quota(self, unit: str) -> int | None:
        raw = await self.redis.get(self.keys.quota(unit))
        return None if raw is None else int(raw)

    async def set_quota(self, unit: str, segments: int | None) -> None:
        """Set a unit's monthly quota in segments (None removes it)."""
        self.tree.get(unit)
        if segments is not None and segments < 0:
            raise ValueError("a quota is a number of segments, 0 or more")
        async with self.redis.pipeline(transaction=False) as pipe:  # a copy per shard, for begin.lua
            for shard in self.keys.every_shard():
                if segments is None:
                    pipe.delete(shard.quota(unit))
                else:
                    pipe.set(shard.quota(unit), segments)
            await pipe.execute()

    async def check_quota(self, unit: str, month: str, segments_to_add: int, kind: str = "notice") -> QuotaCheck:
        """Whether `segments_to_add` more segments of `kind` fit in `unit`'s quota for `month`."""
        quota = await self.get_quota(unit)
        used = 0
        if quota is not None:
            month = check_month(month)
            usage = await sum_hashes(self.redis, self.keys, lambda shard: shard.usage(month))
            used = usage.get(f"{unit}|{ALL_KINDS}", 0)
        return QuotaCheck(quota_level(used, segments_to_add, quota, kind), used, segments_to_add, quota)
