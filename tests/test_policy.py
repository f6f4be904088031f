"""The admission policy (pure): principals, kinds, scope, signature, content, suspension."""

from __future__ import annotations

import msgspec
import pytest

from taxsms.governance.operators import Operator, Role, Status
from taxsms.governance.policy import (
    CampaignGrant,
    Principal,
    PrincipalKind,
    Refused,
    Registry,
    admit,
    operator_principal,
    readmit,
)
from taxsms.governance.units import UnitTree
from taxsms.queue.jobs import Job, Kind
from taxsms.templates.review import ContentReview

COUNTY = Principal(PrincipalKind.TOKEN, "tok1", "county-e1", frozenset({Kind.OVERDUE_FILING, Kind.FILING_REMINDER}))
COLLECTOR = Operator("E1003", "李四", "county-e1", frozenset({Role.COLLECTION}))
PUBLISHER = Operator("E2001", "王五", "city-east", frozenset({Role.PUBLISHER}))


@pytest.fixture
def registry() -> Registry:
    return Registry(
        UnitTree.from_file(),
        ContentReview.from_file(),
        operators={op.id: op for op in (COLLECTOR, PUBLISHER)},
        campaigns={"cmp-1": CampaignGrant("cmp-1", "city-east", Kind.NOTICE, "E2001")},
    )


def job(**fields: object) -> Job:
    base: dict[str, object] = {"id": "j1", "kind": "overdue_filing", "to": "13900000001", "recipient_unit": "county-e1"}
    base["text"] = "您本月增值税尚未申报，请尽快办理。"
    return Job(**{**base, **fields})  # type: ignore[arg-type]


def refused(registry: Registry, principal: Principal | None, **fields: object) -> Refused:
    with pytest.raises(Refused) as info:
        admit(job(**fields), principal, registry)
    return info.value


def test_an_admitted_job_is_signed_from_the_registry_and_names_its_principal(registry: Registry) -> None:
    out = admit(job(), COUNTY, registry)
    assert out.text == "【东市甲县税务局】您本月增值税尚未申报，请尽快办理。"
    assert (out.unit, out.principal, out.operator) == ("county-e1", "token:tok1", "")
    assert admit(out, COUNTY, registry) == out  # idempotent: admitting it again changes nothing
    assert readmit(out, COUNTY, registry) is out  # the worker's fast second look


def test_an_operator_is_signed_with_the_real_name(registry: Registry) -> None:
    out = admit(job(), operator_principal(COLLECTOR), registry)
    assert out.text == "【东市甲县税务局】您本月增值税尚未申报，请尽快办理。（经办人：李四）"
    assert out.operator == "E1003"
    assert admit(out, operator_principal(COLLECTOR), registry) == out


def test_anonymous_jobs_are_refused(registry: Registry) -> None:
    assert refused(registry, None).code == "anonymous"


def test_a_notice_needs_an_approved_campaign(registry: Registry) -> None:
    token = Principal(PrincipalKind.TOKEN, "t", "city-east", frozenset({Kind.FILING_REMINDER}))
    error = refused(registry, token, kind="notice", recipient_unit="county-e1")
    assert error.code == "needs_approval" and "approved campaign" in error.reason
    grant = registry.resolve("campaign:cmp-1")
    assert grant is not None
    out = admit(job(kind="notice", campaign="cmp-1"), grant, registry)
    assert out.text.endswith("（经办人：王五）") and out.text.startswith("【东市税务局】")


def test_a_token_granted_notice_still_cannot_send_one_directly(registry: Registry) -> None:
    granted = Principal(PrincipalKind.TOKEN, "t", "city-east", frozenset({Kind.NOTICE, Kind.INTERNAL}))
    for kind in ("notice", "internal"):
        assert refused(registry, granted, kind=kind, recipient_unit="county-e1").code == "needs_approval"
    operator = operator_principal(PUBLISHER)
    assert refused(registry, operator, kind="notice", recipient_unit="county-e1").code == "needs_approval"


def test_a_forged_signature_is_refused(registry: Registry) -> None:
    assert refused(registry, COUNTY, text="【国家税务总局】全省纳税人通知").code == "signature"
    assert refused(registry, COUNTY, text="完全冒名的通知【某某公司】").code == "signature"


def test_the_units_own_signature_in_the_text_is_kept_once(registry: Registry) -> None:
    out = admit(job(text="【东市甲县税务局】请申报。"), COUNTY, registry)
    assert out.text == "【东市甲县税务局】请申报。"


def test_an_operator_field_from_an_upstream_system_is_refused(registry: Registry) -> None:
    assert refused(registry, COUNTY, operator="padmin").code == "signature"


def test_recipient_unit_is_required_and_scoped(registry: Registry) -> None:
    assert refused(registry, COUNTY, recipient_unit="").field == "recipient_unit"
    assert refused(registry, COUNTY, recipient_unit="county-w1").code == "scope"
    assert refused(registry, COUNTY, recipient_unit="city-east").code == "scope"  # above its county
    assert refused(registry, COUNTY, unit="prov").code == "scope"


def test_the_directory_hook_fills_a_missing_recipient_unit(registry: Registry) -> None:
    on_phone = {"13900000001": {"sub-e1-town"}, "13900000002": {"county-w1", "county-e1"}, "13900000003": {"county-w1"}}
    registry.directory = lambda phone, taxpayer_id: on_phone.get(phone, set())
    assert admit(job(recipient_unit=""), COUNTY, registry).recipient_unit == "sub-e1-town"
    assert admit(job(recipient_unit="", to="13900000002"), COUNTY, registry).recipient_unit == "county-e1"
    assert refused(registry, COUNTY, recipient_unit="", to="13900000003").code == "scope"  # another county's
    assert refused(registry, COUNTY, recipient_unit="", to="13900000004").field == "recipient_unit"  # unknown


@pytest.mark.parametrize(
    "text",
    [
        "欢迎参与六合彩",
        "颠覆国家政权",
        "反对宪法",
        "代開发票",
        "发票代開",
        "安全賬户",
        "槍支弹药",
        "安全帐户",
        "赌\u3164博",
        "赌\u200b博",
        "ＤＵ赌ｂｏ博彩",
        "赌 博",
        "赌-博",
        "赌·博",
        "代开发★票",
        "赌🎲博",
    ],
)
def test_forbidden_text_is_refused_through_every_folding_trick(registry: Registry, text: str) -> None:
    error = refused(registry, COUNTY, text=f"您好，{text}。")
    assert error.code == "content" and "forbidden content" in error.reason


def test_enclosed_and_kangxi_forms_fold() -> None:
    review = ContentReview.parse("[test]\n一贝\n")
    assert [m.term for m in review.check("㈠⾙")] == ["一贝"]


def test_template_variables_are_reviewed(registry: Registry) -> None:
    error = refused(registry, COUNTY, text="", template="overdue_filing", vars={"name": "六合彩"})
    assert error.field == "vars" and error.code == "content"
    assert refused(registry, COUNTY, text="", template="t", vars={"name": "【省税务局】"}).code == "signature"


def test_suspended_operator_and_unit_send_nothing(registry: Registry) -> None:
    suspended = Operator("E1003", "李四", "county-e1", frozenset({Role.COLLECTION}), Status.SUSPENDED, "", "违规")
    registry.operators = {"E1003": suspended}
    assert refused(registry, operator_principal(COLLECTOR)).code == "suspended"
    registry.suspended_units = {"city-east": "违规群发"}
    error = refused(registry, COUNTY)
    assert error.code == "suspended" and "under 东市税务局" in error.reason


def test_a_token_or_system_sends_nothing_while_its_issuing_operator_is_suspended(registry: Registry) -> None:
    """The keeper rule: a token or system answers to the operator who issued or registered it, on first
    admission and on the worker's second look at what it queued before; keepers that are no operator are not
    checked."""
    admin = Operator("E1001", "赵一", "county-e1", frozenset({Role.ADMIN}))
    suspended = msgspec.structs.replace(admin, status=Status.SUSPENDED, suspended_reason="违规")
    registry = Registry(registry.tree, registry.review, operators={admin.id: admin})
    kinds = COUNTY.kinds
    token = Principal(PrincipalKind.TOKEN, "tok2", "county-e1", kinds, keeper=admin.id)
    system = Principal(PrincipalKind.SYSTEM, "filing", "county-e1", kinds, keeper=admin.id)
    queued = [admit(job(), principal, registry) for principal in (token, system)]
    registry = Registry(registry.tree, registry.review, operators={admin.id: suspended})
    for principal, out, verb in zip((token, system), queued, ("issued", "registered"), strict=True):
        error = refused(registry, principal)
        assert (error.field, error.code) == ("operator", "suspended")
        assert error.reason == f"{principal.tag} was {verb} by operator E1001, who is suspended: 违规"
        with pytest.raises(Refused, match="who is suspended: 违规") as info:
            readmit(out, principal, registry)
        assert info.value.code == "suspended"
    for keeper in ("bootstrap", ""):  # not an operator; or a token issued before keepers were recorded
        unchecked = Principal(PrincipalKind.TOKEN, "tok3", "county-e1", kinds, keeper=keeper)
        assert admit(job(), unchecked, registry).principal == "token:tok3"
    registry = Registry(registry.tree, registry.review, operators={admin.id: admin})  # reinstated: sends again
    assert [readmit(out, p, registry) for out, p in zip(queued, (token, system), strict=True)] == queued


def test_a_cancelled_campaign_sends_nothing(registry: Registry) -> None:
    principal = registry.resolve("campaign:cmp-1")
    assert principal is not None
    registry.cancelled = {"cmp-1": "wrong date"}
    assert refused(registry, principal, kind="notice", campaign="cmp-1").code == "cancelled"


def test_a_campaign_principal_sends_only_its_own_jobs(registry: Registry) -> None:
    principal = registry.resolve("campaign:cmp-1")
    assert principal is not None
    assert refused(registry, principal, kind="notice", campaign="cmp-2").code == "campaign"
    assert registry.resolve("campaign:cmp-unknown") is None


def test_readmit_applies_every_rule_a_change_since_admission_breaks(registry: Registry) -> None:
    out = admit(job(), COUNTY, registry)
    registry.suspended_units = {"county-e1": "违规"}
    with pytest.raises(Refused, match="suspended"):
        readmit(out, COUNTY, registry)
    registry.suspended_units = {}
    narrowed = Principal(PrincipalKind.TOKEN, "tok1", "county-e1", COUNTY.kinds, frozenset({"sub-e1-town"}))
    with pytest.raises(Refused, match="outside its jurisdiction"):
        readmit(out, narrowed, registry)
    registry.review = ContentReview.parse("[test]\n尚未申报\n")  # a longer list since: reviewed again
    with pytest.raises(Refused, match="forbidden content"):
        readmit(out, COUNTY, registry)
    tampered = msgspec.structs.replace(out, text=out.text + "【国家税务总局】")
    with pytest.raises(Refused, match="signature"):
        readmit(tampered, COUNTY, registry)


def test_campaign_ids_are_reserved_for_campaigns(registry: Registry) -> None:
    """A token cannot pre-enqueue `<pending campaign id>-000001` with its own text."""
    assert refused(registry, COUNTY, id="cmp-20261201-abcd-000001").code == "reserved"
