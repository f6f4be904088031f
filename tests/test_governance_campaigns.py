"""Campaigns: scope checked at creation, content review, four-eyes approval, enqueue on approval only."""

from __future__ import annotations

from datetime import datetime

import pytest
from argon2 import PasswordHasher

from taxsms.governance.audit import AuditLog
from taxsms.governance.campaigns import CampaignBook, CampaignState, approval_refusal, sign
from taxsms.governance.errors import OutOfScope, PermissionDenied
from taxsms.governance.operators import Operator, OperatorBook
from taxsms.governance.units import UnitTree
from taxsms.queue.jobs import CHINA, Kind, parse_job
from taxsms.queue.store import JobStore
from taxsms.templates.review import ContentRejected, ContentReview

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PW = "correct horse"
TREE = UnitTree.from_file()
TEXT = "请于本月15日前完成申报。"


class Staff:
    """A cast of operators: province, city-east and county-e1 publishers and admins."""

    def __init__(self, book: OperatorBook, ops: dict[str, Operator]) -> None:
        self.book = book
        self.__dict__.update(ops)


@pytest.fixture
async def staff(redis, keys) -> Staff:  # type: ignore[no-untyped-def]
    book = OperatorBook(redis, keys, TREE, hasher=FAST)
    root = await book.bootstrap("P001", "王省", PW)
    second = await book.add(root, "P002", "钱省", "prov", ["admin"], PW)  # the bootstrap era: confirmed

    async def confirmed(creator: Operator, confirmer: Operator, *args: object) -> Operator:
        op = await book.add(creator, *args)  # type: ignore[arg-type]
        return await book.confirm(confirmer, op.id)

    city_admin = await confirmed(root, second, "C001", "赵市", "city-east", ["admin"], PW)
    west_admin = await confirmed(root, second, "W001", "冯市", "city-west", ["admin"], PW)
    county_admin = await confirmed(city_admin, second, "K001", "孙县", "county-e1", ["admin"], PW)
    ops = {
        "root": root,
        "prov_pub": await book.add(root, "P010", "李省", "prov", ["publisher"], PW),
        "city_admin": city_admin,
        "city_pub": await confirmed(city_admin, second, "C010", "钱市", "city-east", ["publisher"], PW),
        "city_pub2": await confirmed(city_admin, second, "C011", "陈市", "city-east", ["publisher"], PW),
        "west_pub": await confirmed(west_admin, second, "W010", "褚市", "city-west", ["publisher"], PW),
        "county_admin": county_admin,
        "county_pub": await confirmed(county_admin, city_admin, "K010", "周县", "county-e1", ["publisher"], PW),
        "county_pub2": await confirmed(county_admin, city_admin, "K011", "吴县", "county-e1", ["publisher"], PW),
        "county_staff": await confirmed(county_admin, city_admin, "K012", "郑县", "county-e1", ["collection"], PW),
    }
    return Staff(book, ops)


@pytest.fixture
def campaigns(redis, keys, staff: Staff) -> CampaignBook:  # type: ignore[no-untyped-def]
    return CampaignBook(redis, keys, TREE, staff.book)


RECIPIENTS = [("13800138000", "county-e1"), ("+86 139-0013-9000", "sub-e1-town"), ("13800138000", "county-e1")]


def test_sign_shows_unit_and_operator() -> None:
    assert sign(" 明天开会。", "东市税务局", "钱市") == "【东市税务局】明天开会。（经办人：钱市）"


async def test_scope_violations_are_refused_at_creation(campaigns: CampaignBook, staff: Staff) -> None:
    with pytest.raises(OutOfScope) as info:
        await campaigns.create(staff.county_pub, TEXT, [("13800138000", "county-e2")], name="x")  # other county
    assert "138****8000" in info.value.reason and "13800138000" not in info.value.reason
    assert "东市乙县税务局 (county-e2)" in info.value.reason and "K010" in info.value.reason
    with pytest.raises(OutOfScope, match="西市丙县税务局"):
        await campaigns.create(staff.city_pub, TEXT, [("13800138000", "county-w1")], name="x")  # other city
    with pytest.raises(OutOfScope, match="needs the role publisher"):
        await campaigns.create(staff.county_staff, TEXT, RECIPIENTS, name="x")
    everyone = [("13800138000", "county-w1"), ("13900139000", "sub-e1-town"), ("13700137000", "prov")]
    campaign = await campaigns.create(staff.prov_pub, TEXT, everyone, name="全省")  # the province reaches all
    assert campaign.recipients == 3 and campaign.text.startswith("【省税务局】")
    assert await campaigns.redis.zcard(campaigns.keys.campaigns) == 1


async def test_content_review_refuses_forbidden_terms(campaigns: CampaignBook, staff: Staff) -> None:
    review = ContentReview.parse("[test]\n赌博\n谣言\n")
    with pytest.raises(ContentRejected, match="赌博") as info:
        await campaigns.create(staff.county_pub, "网上賭 博有奖", RECIPIENTS, name="x", review=review)
    assert [m.term for m in info.value.matches] == ["赌博"]
    with pytest.raises(ValueError, match="【】"):
        await campaigns.create(staff.county_pub, "【假冒单位】通知", RECIPIENTS, name="x")
    with pytest.raises(ValueError, match="not mainland mobile"):
        await campaigns.create(staff.county_pub, TEXT, [("12345", "county-e1")], name="x")


async def test_pending_campaign_is_held_outside_the_streams(campaigns: CampaignBook, staff: Staff, redis, keys) -> None:  # type: ignore[no-untyped-def]
    opens, closes = datetime(2026, 11, 10, 9, tzinfo=CHINA), datetime(2026, 11, 15, 18, tzinfo=CHINA)
    campaign = await campaigns.create(
        staff.county_pub, TEXT, RECIPIENTS, name="申报提醒", not_before=opens, expires_at=closes
    )
    stored = await campaigns.get(campaign.id)
    assert stored.not_before == opens and stored.expires_at == closes and stored.created_at == campaign.created_at
    assert campaign.state is CampaignState.PENDING_APPROVAL and campaign.recipients == 2 and campaign.duplicates == 1
    held = [parse_job(raw) for raw in await redis.lrange(keys.campaign_jobs(campaign.id), 0, -1)]
    assert [job.to for job in held] == ["13800138000", "13900139000"]
    job = held[0]
    assert job.kind is Kind.NOTICE and job.campaign == campaign.id and job.unit == "county-e1"
    assert job.operator == "K010" and job.recipient_unit == "county-e1"
    assert job.text == "【东市甲县税务局】请于本月15日前完成申报。（经办人：周县）"
    assert job.not_before == opens and job.expires_at == closes
    for lane in range(4):
        assert await redis.xlen(keys.lane(lane)) == 0
    status = await campaigns.status(campaign.id)
    assert status.counts == {"pending_approval": 2}


@pytest.mark.parametrize(
    ("creator", "approver", "message"),
    [
        ("county_pub", "county_pub", "may not approve it: a second person"),
        ("city_pub", "county_admin", "lower level"),
        ("city_pub", "west_pub", "does not oversee"),
        ("county_pub", "county_staff", "needs the role publisher or admin"),
    ],
)
async def test_approval_rules(campaigns: CampaignBook, staff: Staff, creator: str, approver: str, message: str) -> None:
    campaign = await campaigns.create(getattr(staff, creator), TEXT, [("13800138000", "county-e1")], name="x")
    with pytest.raises(PermissionDenied, match=message):
        await campaigns.approve(getattr(staff, approver), campaign.id)
    assert (await campaigns.get(campaign.id)).state is CampaignState.PENDING_APPROVAL


async def test_suspended_operators_can_neither_create_nor_approve(campaigns: CampaignBook, staff: Staff) -> None:
    campaign = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="x")
    await staff.book.suspend(staff.county_admin, "K011", "违规")
    with pytest.raises(PermissionDenied, match="suspended"):
        await campaigns.approve(staff.county_pub2, campaign.id)  # its session copy still says active
    with pytest.raises(OutOfScope, match="suspended"):
        await campaigns.create(staff.county_pub2, TEXT, RECIPIENTS, name="x")
    await staff.book.suspend(staff.county_admin, "K010", "违规")
    with pytest.raises(PermissionDenied, match=r"creator .* is suspended"):
        await campaigns.approve(staff.city_pub, campaign.id)


async def test_approved_campaign_is_enqueued(campaigns: CampaignBook, staff: Staff, redis, keys) -> None:  # type: ignore[no-untyped-def]
    campaign = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="申报提醒")
    assert await campaigns.approve(staff.city_pub, campaign.id) == 2  # a higher level may approve
    for n in (1, 2):
        record = await JobStore(redis, keys).job(f"{campaign.id}-{n:06d}")
        assert record is not None and record["state"] == "queued"
    assert await redis.xlen(keys.lane(3)) == 2
    assert not await redis.exists(keys.campaign_jobs(campaign.id))
    status = await campaigns.status(campaign.id)
    assert status.campaign.state is CampaignState.APPROVED and status.campaign.approver == "C010"
    assert status.campaign.enqueued == 2 and status.counts == {"queued": 2}
    with pytest.raises(PermissionDenied, match="approved, not pending"):
        await campaigns.approve(staff.city_pub2, campaign.id)
    same_level = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS[:1], name="y")
    assert await campaigns.approve(staff.county_pub2, same_level.id) == 1  # a colleague of the same unit


async def test_rejected_campaign_never_enqueues(campaigns: CampaignBook, staff: Staff, redis, keys) -> None:  # type: ignore[no-untyped-def]
    campaign = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="x")
    rejected = await campaigns.reject(staff.county_admin, campaign.id, "措辞不当")
    assert rejected.state is CampaignState.REJECTED and rejected.reason == "措辞不当"
    with pytest.raises(PermissionDenied, match="rejected, not pending"):
        await campaigns.approve(staff.city_pub, campaign.id)
    assert await redis.xlen(keys.lane(3)) == 0
    assert await JobStore(redis, keys).job(f"{campaign.id}-000001") is None
    assert (await campaigns.status(campaign.id)).counts == {"rejected": 2}


async def test_campaign_steps_are_audited(campaigns: CampaignBook, staff: Staff, redis, keys) -> None:  # type: ignore[no-untyped-def]
    one = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="x")
    two = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="y")
    await campaigns.approve(staff.county_pub2, one.id)
    await campaigns.reject(staff.county_pub2, two.id, "重复")
    log = AuditLog(redis, keys)
    actions = [(e.actor, e.action, e.subject) async for e in log.entries() if e.action.startswith("campaign")]
    assert actions[-4:] == [
        ("K010", "campaign.create", one.id),
        ("K010", "campaign.create", two.id),
        ("K011", "campaign.approve", one.id),
        ("K011", "campaign.reject", two.id),
    ]
    assert (await log.verify()).ok


def test_approval_refusal_is_pure() -> None:
    from taxsms.governance.campaigns import Campaign
    from taxsms.governance.operators import Role

    creator = Operator("K010", "周县", "county-e1", frozenset({Role.PUBLISHER}))
    campaign = Campaign("c1", "x", Kind.NOTICE, "county-e1", "K010", "t", 1, datetime(2026, 11, 1))
    province = Operator("P001", "王省", "prov", frozenset({Role.ADMIN}), confirmed_by="bootstrap")
    assert approval_refusal(TREE, creator, province, campaign) is None
    maker = Operator("K010", "周县", "county-e1", frozenset({Role.PUBLISHER}), created_by="P001", created_at=100.0)
    assert "created the account of K010" in str(approval_refusal(TREE, maker, province, campaign, now=200.0))
    assert approval_refusal(TREE, maker, province, campaign, now=100.0 + 31 * 86400) is None  # period over
    assert approval_refusal(TREE, maker, province, campaign) is None  # rejecting is always fine


async def test_unconfirmed_accounts_may_neither_create_nor_approve(campaigns: CampaignBook, staff: Staff) -> None:
    fresh = await staff.book.add(staff.county_admin, "K020", "新人", "county-e1", ["publisher"], PW)
    with pytest.raises(PermissionDenied, match="not yet confirmed"):
        await campaigns.create(fresh, TEXT, RECIPIENTS, name="x")
    campaign = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="x")
    with pytest.raises(PermissionDenied, match="not yet confirmed"):
        await campaigns.approve(fresh, campaign.id)
    with pytest.raises(PermissionDenied, match="created account K020"):
        await staff.book.confirm(staff.county_admin, "K020")  # its creator cannot confirm it


async def test_sock_puppet_publisher_cannot_be_approved_by_the_admin_who_created_it(
    campaigns: CampaignBook, staff: Staff
) -> None:
    puppet = await staff.book.add(staff.county_admin, "K099", "傀儡", "county-e1", ["publisher"], PW)
    puppet = await staff.book.confirm(staff.city_admin, puppet.id)
    campaign = await campaigns.create(puppet, TEXT, RECIPIENTS, name="x")
    with pytest.raises(PermissionDenied, match="created the account of K099"):
        await campaigns.approve(staff.county_admin, campaign.id)
    assert await campaigns.approve(staff.county_pub2, campaign.id) == 2  # someone else may


async def test_approval_fails_if_any_campaign_job_id_exists(campaigns: CampaignBook, staff: Staff, redis, keys) -> None:  # type: ignore[no-untyped-def]
    from taxsms.queue.jobs import Job

    campaign = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="x")
    squatter = Job(id=f"{campaign.id}-000002", kind=Kind.FILING_REMINDER, to="13700137000", text="【x】抢先")
    await JobStore(redis, keys).enqueue([squatter])
    with pytest.raises(PermissionDenied, match="job ids exist already"):
        await campaigns.approve(staff.county_pub2, campaign.id)
    assert (await campaigns.get(campaign.id)).state is CampaignState.PENDING_APPROVAL


async def test_approval_refuses_a_campaign_over_the_quota_with_the_numbers(
    campaigns: CampaignBook, staff: Staff, redis, keys
) -> None:  # type: ignore[no-untyped-def]
    from taxsms.governance.accounting import Accounting

    await Accounting(redis, keys, TREE).set_quota("county-e1", 1)
    campaign = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="x")
    with pytest.raises(PermissionDenied, match=r"needs 2 segments but .*county-e1.* has 1 of its 1 left"):
        await campaigns.approve(staff.county_pub2, campaign.id)


async def test_cancel_stops_a_campaign(campaigns: CampaignBook, staff: Staff, redis, keys) -> None:  # type: ignore[no-untyped-def]
    pending = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="x")
    cancelled = await campaigns.cancel(staff.county_pub, pending.id, "日期写错")
    assert cancelled.state is CampaignState.CANCELLED
    assert not await redis.exists(keys.campaign_jobs(pending.id))
    approved = await campaigns.create(staff.county_pub, TEXT, RECIPIENTS, name="y")
    await campaigns.approve(staff.county_pub2, approved.id)
    with pytest.raises(PermissionDenied, match="does not oversee"):
        await campaigns.cancel(staff.west_pub, approved.id, "not theirs")
    await campaigns.cancel(staff.city_pub, approved.id, "停止")
    assert await redis.hget(keys.cancelled_campaigns, approved.id) == "停止".encode()
    assert not await redis.hexists(keys.approved_campaigns, approved.id)
    assert [c.id for c in await campaigns.recent()] == [approved.id, pending.id]
