"""Seeded units and operators for `taxsms demo --keep` and the console's browser test: one of each role a
console user has, from the province admin down to a county's publisher, admin and 12366 staff."""

from __future__ import annotations

import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from redis.asyncio import Redis

from taxsms.governance.audit import AuditLog
from taxsms.governance.operators import OperatorBook
from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.keys import Keys

DEMO_PASSWORD = "demo-pass-12366"
SEASONED_DAYS = 60  # the accounts were added this long ago: past the period in which their creator may not approve


@dataclass(frozen=True, slots=True)
class Login:
    operator: str
    name: str
    unit: str
    roles: tuple[str, ...]
    what: str  # what to try with this login


# (id, real name, unit, roles, added by, confirmed by (an admin of the level above, not the creator), what to try)
OPERATORS = (
    ("P001", "王省", "prov", ("admin",), "", "", "province admin: the platform dashboard, usage, audit"),
    ("P002", "孙审", "prov", ("auditor",), "P001", "", "province auditor: the audit log and its verify button"),
    ("P003", "周省", "prov", ("admin",), "P001", "", "second province admin"),
    ("C001", "钱市", "city-east", ("admin",), "P001", "P003", "city admin of 东市"),
    ("K001", "赵县", "county-e1", ("admin",), "C001", "P001", "county admin of 东市甲县: approves its campaigns"),
    ("K002", "李发", "county-e1", ("publisher",), "K001", "C001", "county publisher: creates campaigns"),
    ("K003", "陈答", "county-e1", ("staff12366",), "K001", "C001", "county 12366 staff: answers the inbox"),
)


async def seed_console(
    redis: Redis, keys: Keys, *, password: str = DEMO_PASSWORD, hasher: PasswordHasher | None = None
) -> list[Login]:
    """Load the example unit tree and add the operators above (all with `password`); return their logins."""
    tree = UnitTree.from_file()
    await save_units(redis, keys, tree)
    audit = AuditLog(redis, keys)
    then = time.time() - SEASONED_DAYS * 86400
    book = OperatorBook(redis, keys, tree, hasher=hasher, audit=audit, clock=lambda: then)
    logins = []
    for operator_id, name, unit, roles, added_by, confirmed_by, what in OPERATORS:
        if await book.find(operator_id) is None:
            if not added_by:
                await book.bootstrap(operator_id, name, password)
            else:
                await book.add(await book.get(added_by), operator_id, name, unit, roles, password)
            if confirmed_by:
                await book.confirm(await book.get(confirmed_by), operator_id)
        logins.append(Login(operator_id, name, unit, roles, what))
    return logins
