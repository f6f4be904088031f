"""Seeded units, operators and a small directory for `taxsms demo --keep` and the console's browser test: one of
each role a console user has, from the province admin down to a county's publisher, admin and 12366 staff, and
a few taxpayers (with their consent) and staff of 东市甲县 and 东市乙县 for campaigns to an audience."""

from __future__ import annotations

import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from redis.asyncio import Redis

from taxsms.directory.directory import Change, Directory, Origin
from taxsms.directory.records import staff, taxpayer
from taxsms.governance.audit import AuditLog
from taxsms.governance.operators import OperatorBook
from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.keys import Keys
from taxsms.replies.subscriptions import How

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

# (taxpayer id, name, unit, [(phone, role, subscribed)]): 东市甲县 and its sub-bureau have seven subscribed
# phones (one of them sends the demo's consultation, so its ticket is 东市甲县's) and one that said no; 东市乙县
# (another county) one.
TAXPAYERS = (
    (
        "330102000000001",
        "甲县明达商贸有限公司",
        "county-e1",
        (("13910000001", "legal", True), ("13910000002", "finance", True)),
    ),
    ("330102000000002", "甲县恒通物流有限公司", "county-e1", (("13910000003", "legal", True),)),
    (
        "330102000000003",
        "甲县张记餐饮店",
        "county-e1",
        (("13910000004", "legal", True), ("13910000006", "agent", False)),
    ),
    ("330102000000004", "甲县新城建材有限公司", "county-e1", (("13910000005", "finance", True),)),
    ("330102000000005", "城关李氏五金店", "sub-e1-town", (("13910000007", "legal", True),)),
    ("330102000000006", "甲县王记便利店", "county-e1", (("13812340005", "legal", True),)),  # texts the demo's question
    ("330103000000001", "乙县远航科技有限公司", "county-e2", (("13920000001", "legal", True),)),
)
# (staff code, name, unit, phone)
STAFF = (
    ("E1-001", "赵县", "county-e1", "13930000001"),
    ("E1-002", "李发", "county-e1", "13930000002"),
    ("E1-003", "陈答", "county-e1", "13930000003"),
)
SEEDED_AUDIENCE = 7  # subscribed phones of taxpayers of county-e1 and below (of 6 taxpayers)


async def seed_directory(redis: Redis, keys: Keys, tree: UnitTree, at: float) -> None:
    """Store the taxpayers (with their consent, as from an import) and the staff above."""
    changes = []
    for row, (taxpayer_id, name, unit, phones) in enumerate(TAXPAYERS, 1):
        record = taxpayer(tree, taxpayer_id, name, unit, [(phone, role) for phone, role, _ in phones])
        consent = {phone: subscribed for phone, _, subscribed in phones}
        changes.append(Change(record, consent, Origin(How.IMPORT, "demo-seed", str(row))))
    directory = Directory(redis, keys)
    await directory.apply(changes, at)
    await directory.put_staff([staff(tree, *row) for row in STAFF])


async def seed_console(
    redis: Redis, keys: Keys, *, password: str = DEMO_PASSWORD, hasher: PasswordHasher | None = None
) -> list[Login]:
    """Load the example unit tree, add the operators above (all with `password`) and the directory; return the
    logins."""
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
    await seed_directory(redis, keys, tree, then)
    return logins
