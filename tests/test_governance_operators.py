"""Operators: the regulation's admin rules, argon2 passwords, suspension, and the audit trail."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from taxsms.governance.audit import AuditLog
from taxsms.governance.errors import PermissionDenied
from taxsms.governance.operators import Operator, OperatorBook, Role, Status, manage_refusal
from taxsms.governance.units import UnitTree

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PW = "correct horse"
TREE = UnitTree.from_file()


def op(unit: str, *roles: str, status: Status = Status.ACTIVE, id: str = "x") -> Operator:
    return Operator(id, "张三", unit, frozenset(Role(r) for r in roles), status)


P_ADMIN, C_ADMIN, K_ADMIN = op("prov", "admin"), op("city-east", "admin"), op("county-e1", "admin")


@pytest.mark.parametrize(
    ("actor", "unit", "admin", "allowed"),
    [
        (P_ADMIN, "prov", False, True),  # province operators
        (P_ADMIN, "prov", True, True),
        (P_ADMIN, "city-east", True, True),  # city admins
        (P_ADMIN, "city-east", False, False),  # not city operators: the city admin keeps those
        (P_ADMIN, "county-e1", True, False),  # not county admins: the city keeps those
        (C_ADMIN, "city-east", False, True),
        (C_ADMIN, "city-east", True, False),  # city admins are kept by the province
        (C_ADMIN, "county-e1", True, True),
        (C_ADMIN, "county-e1", False, False),
        (C_ADMIN, "county-w1", True, False),  # another city's county
        (K_ADMIN, "county-e1", False, True),
        (K_ADMIN, "sub-e1-town", False, True),  # its sub-bureaus' operators
        (K_ADMIN, "sub-e1-town", True, False),  # sub-bureaus have no admins
        (K_ADMIN, "county-e2", False, False),
        (op("county-e1", "publisher"), "county-e1", False, False),
        (op("county-e1", "admin", status=Status.SUSPENDED), "county-e1", False, False),
    ],
)
def test_admin_rules(actor: Operator, unit: str, admin: bool, allowed: bool) -> None:
    assert (manage_refusal(TREE, actor, unit, admin) is None) is allowed


@pytest.fixture
async def book(redis, keys) -> OperatorBook:  # type: ignore[no-untyped-def]
    return OperatorBook(redis, keys, TREE, hasher=FAST)


@pytest.fixture
async def root(book: OperatorBook) -> Operator:
    return await book.bootstrap("P001", "王省", PW)


async def test_bootstrap_only_once(book: OperatorBook, root: Operator) -> None:
    assert root.unit == "prov" and root.roles == {Role.ADMIN}
    with pytest.raises(PermissionDenied):
        await book.bootstrap("P002", "李省", PW)


async def test_admin_chain_and_refusals(book: OperatorBook, root: Operator) -> None:
    city = await book.add(root, "C001", "赵市", "city-east", ["admin"], PW)
    with pytest.raises(PermissionDenied, match="may not manage operators of 东市税务局"):
        await book.add(root, "C002", "钱市", "city-east", ["publisher"], PW)
    await book.add(city, "C002", "钱市", "city-east", ["publisher"], PW)
    county = await book.add(city, "K001", "孙县", "county-e1", ["admin"], PW)
    await book.add(county, "S001", "周所", "sub-e1-town", ["collection"], PW)
    with pytest.raises(PermissionDenied, match="may not manage operators of 东市乙县税务局"):
        await book.add(county, "K201", "吴县", "county-e2", ["publisher"], PW)
    with pytest.raises(PermissionDenied, match="kept by the level above"):
        await book.update(county, "K001", roles=["admin", "publisher"])  # its own admin account
    with pytest.raises(ValueError, match="already exists"):
        await book.add(city, "C002", "钱市", "city-east", ["publisher"], PW)
    with pytest.raises(ValueError, match="unknown role"):
        await book.add(city, "C003", "郑市", "city-east", ["boss"], PW)
    assert [o.id for o in await book.all("city-east")] == ["C001", "C002", "K001", "S001"]


async def test_suspension_blocks_login_and_management(book: OperatorBook, root: Operator) -> None:
    city = await book.add(root, "C001", "赵市", "city-east", ["admin"], PW)
    await book.suspend(root, "C001", "违规发送")
    assert (await book.get("C001")).status is Status.SUSPENDED
    assert await book.authenticate("C001", PW) is None
    with pytest.raises(PermissionDenied, match="suspended"):
        await book.add(city, "C002", "钱市", "city-east", ["publisher"], PW)  # a stale session copy
    with pytest.raises(PermissionDenied, match="itself"):
        await book.suspend(root, "P001", "test")
    await book.reinstate(root, "C001")
    assert (await book.authenticate("C001", PW)) is not None


async def test_passwords_are_argon2_and_rehashed(redis, keys, book: OperatorBook, root: Operator) -> None:  # type: ignore[no-untyped-def]
    stored = await book.get("P001")
    assert stored.password_hash.startswith("$argon2id$") and PW not in stored.password_hash
    assert await book.authenticate("P001", "wrong password") is None
    assert await book.authenticate("nobody", PW) is None
    with pytest.raises(ValueError, match="8 characters"):
        await book.add(root, "P002", "李省", "prov", ["publisher"], "short")
    stronger = OperatorBook(redis, keys, TREE, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert await stronger.authenticate("P001", PW) is not None
    assert (await book.get("P001")).password_hash != stored.password_hash
    assert "t=2" in (await book.get("P001")).password_hash
    with pytest.raises(PermissionDenied):
        await book.login("P001", "wrong password")


async def test_changes_are_audited(redis, keys, book: OperatorBook, root: Operator) -> None:  # type: ignore[no-untyped-def]
    await book.add(root, "C001", "赵市", "city-east", ["admin"], PW)
    await book.update(root, "C001", name="赵新")
    await book.suspend(root, "C001", "违规")
    actions = [(e.actor, e.action, e.subject) async for e in AuditLog(redis, keys).entries()]
    assert actions == [
        ("bootstrap", "operator.add", "P001"),
        ("P001", "operator.add", "C001"),
        ("P001", "operator.update", "C001"),
        ("P001", "operator.suspend", "C001"),
    ]
    assert (await AuditLog(redis, keys).verify()).ok
