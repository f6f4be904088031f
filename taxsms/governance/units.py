"""The tax administration's unit tree: province → city → county (→ sub-bureau), stored as JSON in Redis.

A TOML file lists the units as `[[unit]]` tables with `id`, `name`, `level` and `parent` (none for the
province); see example_units.toml. A unit's parent must be exactly one level above it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

import msgspec
from redis.asyncio import Redis

from taxsms.errors import InvalidInput
from taxsms.governance.errors import NotFound
from taxsms.queue.keys import Keys

EXAMPLE_UNITS = Path(__file__).with_name("example_units.toml")


class Level(StrEnum):
    """Administrative levels, highest first."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    SUB_BUREAU = "sub_bureau"

    @property
    def rank(self) -> int:
        """0 for the province, growing downwards: a lower rank is a higher level."""
        return _RANKS[self]


_RANKS = {level: rank for rank, level in enumerate(Level)}


class Unit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One tax bureau: `parent` is the id of the unit above it ('' for the province)."""

    id: str
    name: str
    level: Level
    parent: str = ""
    signature: str = ""  # the registered SMS signature shown in 【】 (default: the name)

    @property
    def sms_signature(self) -> str:
        return self.signature or self.name


class UnitError(InvalidInput):
    """A unit list that does not form a valid tree."""


class UnitTree:
    """An immutable tree of units with one province at its root."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self._units: dict[str, Unit] = {}
        for unit in units:
            if unit.id in self._units:
                raise UnitError(f"unit {unit.id!r} is listed twice")
            self._units[unit.id] = unit
        self._children: dict[str, list[str]] = {uid: [] for uid in self._units}
        roots = []
        for unit in self._units.values():
            if not unit.id or "|" in unit.id or not unit.name.strip():
                raise UnitError(f"unit {unit.id!r}: needs an id (without '|') and a name")
            if not 2 <= len(unit.sms_signature) <= 30 or "【" in unit.sms_signature or "】" in unit.sms_signature:
                raise UnitError(f"unit {unit.id!r}: the SMS signature must be 2-30 characters without 【】")
            if not unit.parent:
                roots.append(unit)
                continue
            parent = self._units.get(unit.parent)
            if parent is None:
                raise UnitError(f"unit {unit.id!r}: parent {unit.parent!r} is not a known unit")
            if unit.level.rank != parent.level.rank + 1:
                raise UnitError(f"unit {unit.id!r} ({unit.level}) cannot sit under {parent.id!r} ({parent.level})")
            self._children[parent.id].append(unit.id)
        if self._units and (len(roots) != 1 or roots[0].level is not Level.PROVINCE):
            raise UnitError("the tree needs exactly one root unit, at province level")
        self.root = roots[0].id if roots else ""

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units.values())

    def __len__(self) -> int:
        return len(self._units)

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self._units

    def get(self, unit_id: str) -> Unit:
        """The unit with this id; NotFound if there is none."""
        try:
            return self._units[unit_id]
        except KeyError:
            raise NotFound(f"unknown unit {unit_id!r}") from None

    def level_of(self, unit_id: str) -> Level:
        return self.get(unit_id).level

    def name_of(self, unit_id: str) -> str:
        return self.get(unit_id).name

    def parent_of(self, unit_id: str) -> str:
        """The parent's id, '' for the province."""
        return self.get(unit_id).parent

    def children(self, unit_id: str) -> list[Unit]:
        self.get(unit_id)
        return [self._units[child] for child in self._children[unit_id]]

    def path(self, unit_id: str) -> list[Unit]:
        """The units from the province down to `unit_id`, both included."""
        path = [self.get(unit_id)]
        while path[-1].parent:
            path.append(self._units[path[-1].parent])
        return path[::-1]

    def contains(self, ancestor: str, unit_id: str) -> bool:
        """True when `unit_id` is `ancestor` or below it (unknown units are contained by nothing)."""
        if ancestor not in self._units or unit_id not in self._units:
            return False
        return any(unit.id == ancestor for unit in self.path(unit_id))

    def subtree(self, unit_id: str) -> list[Unit]:
        """`unit_id` and every unit below it, depth first."""
        out, stack = [], [unit_id]
        while stack:
            unit = self.get(stack.pop())
            out.append(unit)
            stack.extend(reversed(self._children[unit.id]))
        return out

    def above(self, ancestor: str, unit_id: str) -> bool:
        """True when `ancestor` is a unit strictly above `unit_id` (a superior level of it)."""
        return ancestor != unit_id and self.contains(ancestor, unit_id)

    def describe(self, unit_id: str) -> str:
        """'东市税务局 (city-east)' for messages; the bare id for an unknown unit."""
        unit = self._units.get(unit_id)
        return f"{unit.name} ({unit.id})" if unit else repr(unit_id)

    # -- files and JSON ----------------------------------------------------------------------------------

    @classmethod
    def from_toml(cls, text: str) -> UnitTree:
        """Parse `[[unit]]` tables (id, name, level, parent)."""
        try:
            data = tomllib.loads(text)
            units = msgspec.convert(data.get("unit", []), list[Unit])
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
            raise UnitError(f"bad unit file: {exc}") from None
        return cls(units)

    @classmethod
    def from_file(cls, path: str | Path = EXAMPLE_UNITS) -> UnitTree:
        return cls.from_toml(Path(path).read_text(encoding="utf-8"))


_decode_unit = msgspec.json.Decoder(Unit)


async def save_units(redis: Redis, keys: Keys, tree: UnitTree) -> None:
    """Replace the stored units with `tree` (atomically: readers see the old tree or the new one)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.units)
        if len(tree):
            pipe.hset(keys.units, mapping={unit.id: msgspec.json.encode(unit) for unit in tree})
        await pipe.execute()


async def load_units(redis: Redis, keys: Keys) -> UnitTree:
    """The stored unit tree (empty when none was loaded)."""
    raw = await redis.hgetall(keys.units)
    return UnitTree(_decode_unit.decode(value) for value in raw.values())


class UnitSuspensions:
    """Units suspended by a superior level (hash `keys.suspended_units`): the admission policy refuses every
    job of a suspended unit and of the units below it, so their queued and delayed jobs end `rejected`."""

    def __init__(self, redis: Redis, keys: Keys, tree: UnitTree) -> None:
        self.redis = redis
        self.keys = keys
        self.tree = tree

    async def all(self) -> dict[str, dict[str, object]]:
        raw = await self.redis.hgetall(self.keys.suspended_units)
        return {k.decode(): msgspec.json.decode(v) for k, v in raw.items()}

    async def suspend(self, unit: str, reason: str, by: str, at: float) -> None:
        self.tree.get(unit)
        if not reason.strip():
            raise ValueError("give the reason for the suspension")
        record = {"reason": reason.strip(), "by": by, "at": at}
        await self.redis.hset(self.keys.suspended_units, unit, msgspec.json.encode(record))

    async def reinstate(self, unit: str) -> bool:
        return bool(await self.redis.hdel(self.keys.suspended_units, unit))
