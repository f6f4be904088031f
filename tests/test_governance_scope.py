"""Sending scope: jurisdiction by unit subtree, roles per kind, and upstream credentials."""

from __future__ import annotations

import pytest

from taxsms.governance.errors import OutOfScope
from taxsms.governance.operators import Operator, Role, Status
from taxsms.governance.scope import UpstreamCredential, authorize_upstream, check_send, send_refusal
from taxsms.governance.units import UnitTree
from taxsms.queue.jobs import Job, Kind

TREE = UnitTree.from_file()


def op(unit: str, *roles: str, status: Status = Status.ACTIVE) -> Operator:
    return Operator("A01", "张三", unit, frozenset(Role(r) for r in roles), status)


@pytest.mark.parametrize(
    ("unit", "recipient", "allowed"),
    [
        ("prov", "county-w1", True),
        ("prov", "sub-e1-town", True),
        ("city-east", "county-e2", True),
        ("city-east", "county-w1", False),  # another city's county
        ("city-east", "city-west", False),
        ("city-east", "prov", False),
        ("county-e1", "sub-e1-town", True),
        ("county-e1", "county-e2", False),  # the neighbouring county
        ("county-e1", "city-east", False),
    ],
)
def test_jurisdiction(unit: str, recipient: str, allowed: bool) -> None:
    assert (send_refusal(TREE, op(unit, "publisher"), Kind.NOTICE, recipient) is None) is allowed


def test_refusal_names_operator_unit_and_recipient_unit() -> None:
    with pytest.raises(OutOfScope) as info:
        check_send(TREE, op("county-e1", "publisher"), Kind.NOTICE, "county-e2")
    assert "A01" in info.value.reason
    assert "东市甲县税务局 (county-e1)" in info.value.reason
    assert "东市乙县税务局 (county-e2)" in info.value.reason


@pytest.mark.parametrize(
    ("operator", "kind", "message"),
    [
        (op("county-e1", "collection"), Kind.NOTICE, "needs the role publisher"),
        (op("county-e1", "publisher"), Kind.OVERDUE_PAYMENT, "needs the role collection"),
        (op("city-east", "collection"), Kind.OVERDUE_FILING, "county collection office"),
        (op("county-e1", "auditor"), Kind.INTERNAL, "admin or publisher"),
        (op("county-e1", "publisher"), Kind.REPLY, "staff12366"),
        (op("county-e1", "publisher", status=Status.SUSPENDED), Kind.NOTICE, "suspended"),
        (op("county-e1", "publisher"), Kind.NOTICE, "unknown unit"),
    ],
)
def test_roles_and_status(operator: Operator, kind: Kind, message: str) -> None:
    recipient = "nowhere" if message == "unknown unit" else "county-e1"
    with pytest.raises(OutOfScope, match=message):
        check_send(TREE, operator, kind, recipient)


def test_allowed_kinds() -> None:
    check_send(TREE, op("county-e1", "collection"), Kind.OVERDUE_PAYMENT, "sub-e1-town")
    check_send(TREE, op("county-e1", "admin"), Kind.INTERNAL, "county-e1")
    check_send(TREE, op("city-east", "staff12366"), Kind.REPLY, "")  # answering whoever wrote in


def _job(kind: str, unit: str, recipient_unit: str) -> Job:
    return Job(
        id="j1", kind=Kind(kind), to="13800138000", text="【东市甲县税务局】x", unit=unit, recipient_unit=recipient_unit
    )


def test_upstream_credentials() -> None:
    cred = UpstreamCredential("filing-system", "city-east", frozenset({Kind.FILING_REMINDER, Kind.OVERDUE_FILING}))
    authorize_upstream(cred, _job("filing_reminder", "county-e1", "county-e1"), TREE)
    authorize_upstream(cred, _job("overdue_filing", "", "sub-e1-town"), TREE)
    with pytest.raises(OutOfScope, match="may not send overdue_payment"):
        authorize_upstream(cred, _job("overdue_payment", "county-e1", "county-e1"), TREE)
    with pytest.raises(OutOfScope, match="西市丙县税务局"):
        authorize_upstream(cred, _job("filing_reminder", "county-e1", "county-w1"), TREE)
    with pytest.raises(OutOfScope, match="in the name of"):
        authorize_upstream(cred, _job("filing_reminder", "county-w1", "county-e1"), TREE)
    with pytest.raises(OutOfScope, match="no recipient_unit"):
        authorize_upstream(cred, _job("filing_reminder", "county-e1", ""), TREE)
    with pytest.raises(ValueError, match="kinds must be among"):
        UpstreamCredential("rogue", "prov", frozenset({Kind.NOTICE}))
