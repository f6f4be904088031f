"""Real-name operators: roles, confirmation, suspension, argon2 passwords, and who may manage whom.

The regulation's admin rules (`manage_refusal`): the province admin keeps province operators and city
admins; a city admin keeps city operators and county admins; a county admin keeps its own operators and
its sub-bureaus' operators. An admin account is therefore kept by the level above (province admins by the
province), other operators by their own unit's admin (a sub-bureau's by its county). Sub-bureaus have no
admins of their own.

A new account is confirmed by an admin of the level above (`confirm`; the province's by another province
admin) before it may create or approve campaigns. Any admin of a unit above may suspend an operator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from enum import StrEnum

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.asyncio import Redis

from taxsms.governance.audit import Action, AuditLog
from taxsms.governance.errors import NotFound, PermissionDenied
from taxsms.governance.units import Level, UnitTree
from taxsms.queue.keys import Keys


class Role(StrEnum):
    ADMIN = "admin"  # manages operators (see manage_refusal)
    PUBLISHER = "publisher"  # publishes and approves notices
    COLLECTION = "collection"  # county collection office: overdue filing / payment notices
    STAFF12366 = "staff12366"  # answers taxpayers (replies)
    AUDITOR = "auditor"  # reads the audit log and reports


class Status(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Operator(msgspec.Struct, frozen=True, omit_defaults=True):
    """A real-name operator: `id` is the staff code, `name` the real name."""

    id: str
    name: str
    unit: str
    roles: frozenset[Role] = frozenset()
    status: Status = Status.ACTIVE
    password_hash: str = ""
    suspended_reason: str = ""
    created_by: str = ""  # who added the account ('bootstrap' for the first admin)
    created_at: float = 0.0
    confirmed_by: str = ""  # the admin of the level above who confirmed it ('' = not yet confirmed)

    @property
    def active(self) -> bool:
        return self.status is Status.ACTIVE

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def confirmed(self) -> bool:
        return bool(self.confirmed_by)


CONFIRMATION_PERIOD_S = 30 * 86400  # no one approves a campaign of an account they created this recently


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Role names -> roles; ValueError naming an unknown one."""
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip()))
        except ValueError:
            raise ValueError(f"unknown role {name!r} (roles: {', '.join(Role)})") from None
    return frozenset(roles)


def manage_refusal(tree: UnitTree, actor: Operator, unit: str, admin: bool) -> str | None:
    """Why `actor` may not manage an operator of `unit` (an admin if `admin`), or None if it may."""
    if not actor.active:
        return f"operator {actor.id} is suspended"
    if not actor.is_admin:
        return f"operator {actor.id} is not an admin"
    if actor.unit not in tree or unit not in tree:
        return f"unknown unit {unit if actor.unit in tree else actor.unit!r}"
    level, target = tree.level_of(actor.unit), tree.get(unit)
    where = f"admin of {tree.describe(actor.unit)}"
    if admin:
        if target.level is Level.SUB_BUREAU:
            return f"sub-bureaus have no admins ({tree.describe(unit)})"
        if unit == actor.unit and level is Level.PROVINCE:
            return None
        if target.parent == actor.unit:
            return None
        return f"{where} may not manage admins of {tree.describe(unit)}: admins are kept by the level above"
    if unit == actor.unit:
        return None
    if level is Level.COUNTY and target.parent == actor.unit and target.level is Level.SUB_BUREAU:
        return None
    return f"{where} may not manage operators of {tree.describe(unit)}"


def confirm_refusal(tree: UnitTree, actor: Operator, target: Operator) -> str | None:
    """Why `actor` may not confirm `target`'s new account, or None: an active, confirmed admin of a unit
    above (for the province, another province admin), never the account's creator."""
    if not actor.active or not actor.is_admin or not actor.confirmed:
        return f"operator {actor.id} is not an active, confirmed admin"
    if actor.id in (target.id, target.created_by):
        return f"operator {actor.id} created account {target.id}: the level above confirms it"
    if actor.unit not in tree or target.unit not in tree:
        return f"unknown unit {target.unit!r}"
    if target.unit == tree.root and actor.unit == tree.root:
        return None
    if actor.unit != target.unit and tree.contains(actor.unit, target.unit):
        return None
    return f"operator {actor.id} of {tree.describe(actor.unit)} is not above {tree.describe(target.unit)}"


def suspend_refusal(tree: UnitTree, actor: Operator, target: Operator) -> str | None:
    """Why `actor` may not suspend `target`, or None: its keeper (manage_refusal) or any admin above it."""
    if target.id == actor.id:
        return f"operator {actor.id} may not suspend itself"
    keeper = manage_refusal(tree, actor, target.unit, target.is_admin)
    if keeper is None:
        return None
    if actor.active and actor.is_admin and actor.unit != target.unit and tree.contains(actor.unit, target.unit):
        return None
    return keeper


def _check(tree: UnitTree, actor: Operator, unit: str, roles: frozenset[Role]) -> None:
    reason = manage_refusal(tree, actor, unit, Role.ADMIN in roles)
    if reason:
        raise PermissionDenied(reason)


_decode = msgspec.json.Decoder(Operator)


class OperatorBook:
    """Operators in the hash `keys.operators` (id -> JSON); every change goes to the audit log.

    `hasher`: the argon2 parameters (tests pass cheap ones); hashes made with other parameters are
    upgraded on the next successful login.
    """

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        tree: UnitTree,
        *,
        hasher: PasswordHasher | None = None,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.tree = tree
        self.hasher = hasher or PasswordHasher()
        self.audit = audit or AuditLog(redis, keys)
        self._clock = clock
        self._dummy_hash = ""

    # -- reading -----------------------------------------------------------------------------------------

    async def get(self, operator_id: str) -> Operator:
        raw = await self.redis.hget(self.keys.operators, operator_id)
        if raw is None:
            raise NotFound(f"unknown operator {operator_id!r}")
        return _decode.decode(raw)

    async def find(self, operator_id: str) -> Operator | None:
        raw = await self.redis.hget(self.keys.operators, operator_id)
        return None if raw is None else _decode.decode(raw)

    async def all(self, unit: str | None = None) -> list[Operator]:
        """Every operator (of `unit`'s subtree if given), sorted by unit then id."""
        found = [_decode.decode(raw) for raw in (await self.redis.hgetall(self.keys.operators)).values()]
        if unit is not None:
            found = [op for op in found if self.tree.contains(unit, op.unit)]
        return sorted(found, key=lambda op: (op.unit, op.id))

    async def current(self, actor: Operator | str) -> Operator:
        """The stored record of an acting operator (a session's copy may be stale: suspended since)."""
        return await self.get(actor if isinstance(actor, str) else actor.id)

    # -- changes -----------------------------------------------------------------------------------------

    async def bootstrap(self, operator_id: str, name: str, password: str) -> Operator:
        """Create the first province admin; refused once any operator exists."""
        if not self.tree.root:
            raise PermissionDenied("load the unit tree first")
        op = self._new(operator_id, name, self.tree.root, frozenset({Role.ADMIN}), password)
        op = msgspec.structs.replace(op, created_by="bootstrap", confirmed_by="bootstrap")
        if not await self.redis.hsetnx(self.keys.operators, op.id, msgspec.json.encode(op)):
            raise PermissionDenied(f"operator {op.id} already exists")
        if await self.redis.hlen(self.keys.operators) > 1:
            await self.redis.hdel(self.keys.operators, op.id)
            raise PermissionDenied("operators exist already: an admin must add new ones")
        await self.audit.append("bootstrap", Action.OPERATOR_ADD, op.id, _summary(op))
        return op

    async def add(
        self, actor: Operator, operator_id: str, name: str, unit: str, roles: Iterable[str], password: str
    ) -> Operator:
        """Add an operator; PermissionDenied unless `actor` may manage it, ValueError if the id is taken."""
        actor = await self.current(actor)
        op = self._new(operator_id, name, unit, parse_roles(roles), password)
        # The province has no level above: the bootstrap admin's province accounts start confirmed.
        confirmed = actor.id if actor.created_by == "bootstrap" and unit == self.tree.root else ""
        op = msgspec.structs.replace(op, created_by=actor.id, created_at=self._clock(), confirmed_by=confirmed)
        _check(self.tree, actor, unit, op.roles)
        if not await self.redis.hsetnx(self.keys.operators, op.id, msgspec.json.encode(op)):
            raise ValueError(f"operator {op.id} already exists")
        await self.audit.append(actor.id, Action.OPERATOR_ADD, op.id, _summary(op))
        return op

    async def update(
        self,
        actor: Operator,
        operator_id: str,
        *,
        name: str | None = None,
        unit: str | None = None,
        roles: Iterable[str] | None = None,
        password: str | None = None,
    ) -> Operator:
        """Change an operator's name, unit, roles or password; the actor must manage it before and after."""
        actor, old = await self.current(actor), await self.get(operator_id)
        new = msgspec.structs.replace(
            old,
            name=old.name if name is None else _real_name(name),
            unit=old.unit if unit is None else unit,
            roles=old.roles if roles is None else parse_roles(roles),
        )
        if password is not None:
            new = msgspec.structs.replace(new, password_hash=self._hash(password))
        _check(self.tree, actor, old.unit, old.roles)
        _check(self.tree, actor, new.unit, new.roles)
        await self._store(new)
        changed = {f: getattr(new, f) for f in ("name", "unit", "roles") if getattr(new, f) != getattr(old, f)}
        details = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in changed.items()}
        details |= {"password": "changed"} if password is not None else {}
        await self.audit.append(actor.id, Action.OPERATOR_UPDATE, new.id, details)
        return new

    async def confirm(self, actor: Operator, operator_id: str) -> Operator:
        """Confirm a new account (see confirm_refusal); until then it may not create or approve campaigns."""
        actor, target = await self.current(actor), await self.get(operator_id)
        reason = confirm_refusal(self.tree, actor, target)
        if reason:
            raise PermissionDenied(reason)
        new = msgspec.structs.replace(target, confirmed_by=actor.id)
        await self._store(new)
        await self.audit.append(actor.id, Action.OPERATOR_CONFIRM, new.id, {"unit": new.unit})
        return new

    async def suspend(self, actor: Operator, operator_id: str, reason: str) -> Operator:
        """Suspend an operator (it can no longer log in, send or approve; its queued jobs end rejected)."""
        actor, target = await self.current(actor), await self.get(operator_id)
        if not reason.strip():
            raise ValueError("give the reason for the suspension")
        refusal = suspend_refusal(self.tree, actor, target)
        if refusal:
            raise PermissionDenied(refusal)
        new = msgspec.structs.replace(target, status=Status.SUSPENDED, suspended_reason=reason.strip())
        await self._store(new)
        details = {"reason": new.suspended_reason, "unit": new.unit}
        await self.audit.append(actor.id, Action.OPERATOR_SUSPEND, new.id, details)
        return new

    async def reinstate(self, actor: Operator, operator_id: str) -> Operator:
        actor, target = await self.current(actor), await self.get(operator_id)
        refusal = suspend_refusal(self.tree, actor, target)
        if refusal:
            raise PermissionDenied(refusal)
        new = msgspec.structs.replace(target, status=Status.ACTIVE, suspended_reason="")
        await self._store(new)
        await self.audit.append(actor.id, Action.OPERATOR_REINSTATE, new.id, {})
        return new

    # -- passwords ---------------------------------------------------------------------------------------

    async def authenticate(self, operator_id: str, password: str) -> Operator | None:
        """The operator if the password is right and the account active, else None (same cost either way).

        argon2 runs in a worker thread, so a burst of logins never stalls the event loop.
        """
        op = await self.find(operator_id)
        if op is None or not op.password_hash:
            await asyncio.to_thread(lambda: self._verify(self._dummy(), password))
            return None
        if not await asyncio.to_thread(self._verify, op.password_hash, password) or not op.active:
            return None
        if self.hasher.check_needs_rehash(op.password_hash):
            op = msgspec.structs.replace(op, password_hash=await asyncio.to_thread(self._hash, password))
            await self._store(op)
            await self.audit.append(op.id, Action.OPERATOR_REHASH, op.id, {})
        return op

    async def change_password(self, operator_id: str, old: str, new: str) -> Operator:
        """An operator changes its own password (the old one proves it is the owner); audited."""
        op = await self.login(operator_id, old)
        if new == old:
            raise ValueError("the new password must differ from the old one")
        op = msgspec.structs.replace(op, password_hash=await asyncio.to_thread(self._hash, new))
        await self._store(op)
        await self.audit.append(op.id, Action.OPERATOR_UPDATE, op.id, {"password": "changed"})
        return op

    async def login(self, operator_id: str, password: str) -> Operator:
        """authenticate(), raising PermissionDenied instead of returning None (the failure audited): the
        command line's login (the console counts and throttles its logins in api/login_limits.py)."""
        op = await self.authenticate(operator_id, password)
        if op is None:
            await self.audit.append(operator_id, Action.LOGIN_FAILED, operator_id, {"address": "command line"})
            raise PermissionDenied(f"operator {operator_id}: wrong password, unknown or suspended")
        return op

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if not self._dummy_hash:
            self._dummy_hash = self.hasher.hash("not a password")
        return self._dummy_hash

    def _hash(self, password: str) -> str:
        if len(password) < 8:
            raise ValueError("passwords need at least 8 characters")
        return self.hasher.hash(password)

    def _new(self, operator_id: str, name: str, unit: str, roles: frozenset[Role], password: str) -> Operator:
        if not operator_id or not operator_id.isprintable() or " " in operator_id or "|" in operator_id:
            raise ValueError(f"operator id {operator_id!r}: the staff code, printable, without spaces")
        self.tree.get(unit)
        return Operator(operator_id, _real_name(name), unit, roles, Status.ACTIVE, self._hash(password))

    async def _store(self, op: Operator) -> None:
        await self.redis.hset(self.keys.operators, op.id, msgspec.json.encode(op))


def _real_name(name: str) -> str:
    if not name.strip():
        raise ValueError("operators are real-name: give the operator's name")
    return name.strip()


def _summary(op: Operator) -> dict[str, object]:
    return {"name": op.name, "unit": op.unit, "roles": sorted(op.roles)}
