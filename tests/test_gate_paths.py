"""One gate on every path: what the regulation forbids is refused with its reason on each path that creates an
outgoing message, reaches no SMSC (the real simulator, over TCP), and leaves an audit entry.

Paths: `taxsms enqueue` (the CLI, with --token and --as), `POST /v1/jobs`, raw intake entries (XADD), campaigns,
staff answers and the reply service. Cases: an unapproved notice, forbidden text (each folding trick), a forged
signature, an out-of-unit recipient, a suspended operator, a suspended unit. A case that cannot arise on a path
is said so where the path is tested (a staff answer or an automatic reply goes to whoever wrote in, so it has no
recipient unit; the reply service sends only replies). Every path also sends one allowed message, which must
arrive: the refusals are not the SMSC being unreachable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import msgspec
import pytest
from conftest import texts_to, wait_until
from redis.asyncio import Redis
from test_api_support import UNITS, running_api

from taxsms.api.state import GATE
from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.cli import main as taxsms_main
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.governance.admission import Gate
from taxsms.governance.audit import AuditLog
from taxsms.governance.campaigns import CampaignBook
from taxsms.governance.errors import OutOfScope, PermissionDenied
from taxsms.governance.operators import Operator, OperatorBook
from taxsms.governance.policy import Principal, PrincipalKind
from taxsms.governance.registry import PrincipalBook
from taxsms.governance.units import UnitSuspensions
from taxsms.queue.jobs import CHINA, FINAL_STATES, Kind, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies.config import ReplyConfig
from taxsms.replies.inbox import Inbox, TicketError
from taxsms.replies.providers import RedisProvider
from taxsms.replies.service import ReplyService
from taxsms.templates.review import ContentRejected
from tests.governance_support import CHEAP, PASSWORD, county_token, operators, token_issued_before_keepers

#: Each folding trick of the issue, in a text that must be refused.
TRICKS = [
    "欢迎参与六合彩",  # plain
    "颠覆国家政权",  # a category the old list missed
    "代開发票",  # traditional and simplified mixed in one term
    "安全帐户",  # a variant (帐 -> 账)
    "赌\u3164博",  # a Hangul filler between the characters
    "赌\u200b博",  # zero-width space
    "ＤＵ六合彩",  # full-width
    "赌 - 博",  # separators
    "槍支彈藥",  # traditional
]
FORGED = "【国家税务总局】全省纳税人通知（经办人：张省管）"
CLEAN = "您本月增值税尚未申报，请尽快办理。"


def phone(path: int, case: int, n: int = 0) -> str:
    return f"138{path:02d}{case:02d}{n:04d}"


class World:
    """Units, operators, a token, a registered system; the simulator; what each path sent."""

    def __init__(self, redis: Redis, keys: Keys, redis_url: str, sim: SmscSimulator) -> None:
        self.redis, self.keys, self.redis_url, self.sim = redis, keys, redis_url, sim
        self.ops: dict[str, Operator] = {}
        self.token = ""
        self.allowed: list[str] = []  # phones that must receive their message
        self.refused: list[str] = []  # phones that must receive nothing

    def book(self) -> OperatorBook:
        return OperatorBook(self.redis, self.keys, UNITS, hasher=CHEAP)

    def job(self, job_id: str, to: str, text: str = CLEAN, **extra: object) -> dict[str, object]:
        return {"id": job_id, "kind": "overdue_filing", "to": to, "recipient_unit": "county-e1", "text": text, **extra}

    async def suspend_unit(self, unit: str) -> None:
        await UnitSuspensions(self.redis, self.keys, UNITS).suspend(unit, "违规群发", "padmin", 0.0)

    async def reinstate_unit(self, unit: str) -> None:
        await UnitSuspensions(self.redis, self.keys, UNITS).reinstate(unit)

    async def audit(self, action: str) -> list[dict[str, object]]:
        return [e.to_dict() async for e in AuditLog(self.redis, self.keys).entries() if e.action == action]

    async def refusal_codes(self, path: str) -> dict[str, int]:
        codes: dict[str, int] = {}
        for entry in await self.audit("send.refused"):
            details = entry["details"]
            assert isinstance(details, dict)
            if details["path"] == path:
                for code, count in details["codes"].items():
                    codes[code] = codes.get(code, 0) + count
        return codes

    def texts_to(self, phone: str) -> list[str]:
        """What the SMSC accepted for `phone`, each message's parts joined."""
        return texts_to(self.sim, phone)

    async def run_worker_until_final(self, **worker: object) -> None:
        """Run a worker over everything queued until each job is final and each allowed phone got its SMS."""
        config = WorkerConfig(
            redis_url=self.redis_url,
            prefix=self.keys.prefix,
            smsc_port=self.sim.port,
            block_ms=20,
            send_window="00:00-24:00",
            unknown_subscription="send",
            daily_caps="",
            **worker,  # type: ignore[arg-type]
        )
        worker = Worker(config)
        task = asyncio.create_task(worker.run())
        store = JobStore(self.redis, self.keys)

        async def done() -> bool:
            counts = await store.counts()
            waiting = sum(counts[s] for s in ("queued", "delayed", "submitting", "submitted"))
            lanes = sum([await self.redis.xlen(self.keys.lane(n)) for n in range(4)])
            intake = await self.redis.xlen(self.keys.intake)
            return not waiting and not lanes and not intake and all(self.texts_to(p) for p in self.allowed)

        try:
            await wait_until(done, timeout=60)
        finally:
            worker.stop()
            await task


@pytest.fixture
async def world(redis: Redis, keys: Keys, redis_url: str) -> AsyncIterator[World]:
    sim = SmscSimulator(SimulatorConfig(dlr_ms=5, keep_accepted=True))
    await sim.start()
    w = World(redis, keys, redis_url, sim)
    from taxsms.governance.units import save_units

    await save_units(redis, keys, UNITS)
    w.ops = await operators(redis, keys, UNITS)
    w.token = await county_token(redis, keys)
    system = Principal(PrincipalKind.SYSTEM, "filing-e1", "county-e1", frozenset({Kind.OVERDUE_FILING}))
    await PrincipalBook(redis, keys).register(system, "filing-e1")
    yield w
    await sim.stop()


def cli(world: World, *argv: str) -> int:
    common = ["--redis-url", world.redis_url, "--prefix", world.keys.prefix]
    return taxsms_main([argv[0], *common, *argv[1:]])


async def test_cli_enqueue_path(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = 1
    lines = [world.job("ok", phone(p, 0))]
    world.allowed.append(phone(p, 0))
    lines.append({**world.job("notice", phone(p, 1)), "kind": "notice"})
    lines += [world.job(f"trick{i}", phone(p, 2, i), f"您好，{t}。") for i, t in enumerate(TRICKS)]
    lines.append(world.job("forged", phone(p, 3), FORGED))
    lines.append(world.job("outside", phone(p, 4), recipient_unit="county-w1"))
    world.refused += [phone(p, c) for c in (1, 3, 4)] + [phone(p, 2, i) for i in range(len(TRICKS))]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    assert await asyncio.to_thread(cli, world, "enqueue", str(jobs)) == 1  # anonymous: refused, nothing enqueued
    assert await asyncio.to_thread(cli, world, "enqueue", "--token", world.token, str(jobs)) == 5  # partial
    codes = await world.refusal_codes("cli")
    assert codes == {"needs_approval": 1, "content": len(TRICKS), "signature": 1, "scope": 1}

    # as an operator: a collection officer's job, then the officer is suspended before it goes out
    monkeypatch.setenv("TAXSMS_OPERATOR_PASSWORD", PASSWORD)
    queued = tmp_path / "queued.jsonl"
    queued.write_text(json.dumps(world.job("by-e1col", phone(p, 5))) + "\n")
    assert await asyncio.to_thread(cli, world, "enqueue", "--as", "e1col", str(queued)) == 0
    await world.book().suspend(world.ops["eadmin"], "e1col", "违规")  # a superior level, not its keeper
    again = tmp_path / "again.jsonl"
    again.write_text(json.dumps(world.job("by-e1col-2", phone(p, 6))) + "\n")
    assert await asyncio.to_thread(cli, world, "enqueue", "--as", "e1col", str(again)) == 1  # cannot log in
    assert any(e["actor"] == "e1col" for e in await world.audit("login.failed"))
    world.refused += [phone(p, 5), phone(p, 6)]

    # a suspended unit: county-e1's token is refused while its city is suspended
    await world.suspend_unit("city-east")
    unit_job = tmp_path / "unit.jsonl"
    unit_job.write_text(json.dumps(world.job("unit", phone(p, 7))) + "\n")
    assert await asyncio.to_thread(cli, world, "enqueue", "--token", world.token, str(unit_job)) == 5
    assert (await world.refusal_codes("cli"))["suspended"] == 1
    world.refused.append(phone(p, 7))
    await world.reinstate_unit("city-east")

    # a token answers to the operator who issued it: refused while e1admin is suspended
    kept = await county_token(world.redis, world.keys, actor="e1admin")
    await world.book().suspend(world.ops["eadmin"], "e1admin", "违规发放")
    kept_job = tmp_path / "kept.jsonl"
    kept_job.write_text(json.dumps(world.job("kept", phone(p, 8))) + "\n")
    assert await asyncio.to_thread(cli, world, "enqueue", "--token", kept, str(kept_job)) == 5
    assert (await world.refusal_codes("cli"))["suspended"] == 2
    world.refused.append(phone(p, 8))
    await world.book().reinstate(world.ops["eadmin"], "e1admin")

    await world.run_worker_until_final()
    record = await JobStore(world.redis, world.keys).job("by-e1col")
    assert record is not None and record["state"] == "rejected" and "may not send: 违规" in record["error"]
    assert (await world.refusal_codes("worker"))["suspended"] == 1
    assert_nothing_reached_the_smsc(world)


async def test_api_path(world: World) -> None:
    p = 2
    async with running_api(world.redis, world.keys) as api:
        api.app[GATE].max_age = 0  # see every suspension at once (production: within a second)
        token = await county_token(world.redis, world.keys)

        async def post(job: dict[str, object]) -> tuple[int, str]:
            response = await api.post_jobs(job, token=token)
            return response.status, (await response.json()).get("detail", "")

        assert (await post(world.job("ok", phone(p, 0))))[0] == 202
        world.allowed.append(phone(p, 0))
        status, detail = await post({**world.job("notice", phone(p, 1)), "kind": "notice"})
        assert status == 403 and "approved campaign" in detail
        for i, trick in enumerate(TRICKS):
            status, detail = await post(world.job(f"t{i}", phone(p, 2, i), f"您好，{trick}。"))
            assert status == 403 and "forbidden content" in detail, trick
        status, detail = await post(world.job("forged", phone(p, 3), FORGED))
        assert status == 403 and "【国家税务总局】" in detail
        status, detail = await post(world.job("outside", phone(p, 4), recipient_unit="county-w1"))
        assert status == 403 and detail.startswith("recipient_unit:") and "outside its jurisdiction" in detail
        status, detail = await post(world.job("no-unit", phone(p, 5), recipient_unit=""))
        assert status == 403 and "required" in detail  # left out: not a way around the scope check
        await world.suspend_unit("county-e1")
        status, detail = await post(world.job("suspended", phone(p, 6)))
        assert status == 403 and "suspended" in detail
        await world.reinstate_unit("county-e1")
        # a suspended operator: a token answers to the operator who issued it, for what it sends and what it
        # queued before (an operator's own jobs are the CLI's --as, above)
        kept = await county_token(world.redis, world.keys, actor="e1admin")
        assert (await api.post_jobs(world.job("kept-queued", phone(p, 7)), token=kept)).status == 202
        await world.book().suspend(world.ops["eadmin"], "e1admin", "违规发放")
        response = await api.post_jobs(world.job("kept", phone(p, 8)), token=kept)
        detail = (await response.json())["detail"]
        assert response.status == 403 and "was issued by operator e1admin, who is suspended: 违规发放" in detail
        world.refused += [phone(p, c) for c in (1, 3, 4, 5, 6, 7, 8)] + [phone(p, 2, i) for i in range(len(TRICKS))]
        codes = await world.refusal_codes("api")
        assert codes == {"needs_approval": 1, "content": len(TRICKS), "signature": 1, "scope": 2, "suspended": 2}
        await world.run_worker_until_final()
        record = await JobStore(world.redis, world.keys).job(api.stored("kept-queued", kept)) or {}
        assert record.get("state") == "rejected" and "who is suspended: 违规发放" in record.get("error", "")
        assert await world.refusal_codes("worker") == {"suspended": 1}
        await world.book().reinstate(world.ops["eadmin"], "e1admin")  # reinstated: its token sends again
        assert (await api.post_jobs(world.job("kept-again", phone(p, 9)), token=kept)).status == 202
        world.allowed.append(phone(p, 9))
    await world.run_worker_until_final()
    assert_nothing_reached_the_smsc(world)


async def test_raw_intake_path(world: World) -> None:
    p = 3

    async def xadd(job: dict[str, object], principal: str = "system:filing-e1") -> None:
        payload = msgspec.json.encode({**job, "principal": principal} if principal else job)
        await world.redis.xadd(world.keys.intake, {"id": str(job["id"]), "job": payload})

    await xadd(world.job("ok", phone(p, 0)))
    world.allowed.append(phone(p, 0))
    await xadd(world.job("anonymous", phone(p, 8)), principal="")
    await xadd(world.job("impostor", phone(p, 9)), principal="operator:e1col")  # only systems write raw entries
    await xadd({**world.job("notice", phone(p, 1)), "kind": "notice"})
    for i, trick in enumerate(TRICKS):
        await xadd(world.job(f"t{i}", phone(p, 2, i), f"您好，{trick}。"))
    await xadd(world.job("forged", phone(p, 3), FORGED))
    await xadd(world.job("outside", phone(p, 4), recipient_unit="county-w1"))
    await xadd(world.job("padmin", phone(p, 5), "【省税务局】全省纳税人通知", operator="padmin"))
    # an operator: the system cannot sign as one (padmin above); a suspended unit, a suspended keeper: below
    world.refused += [phone(p, c) for c in (1, 3, 4, 5, 8, 9)] + [phone(p, 2, i) for i in range(len(TRICKS))]
    await world.run_worker_until_final()
    await world.suspend_unit("county-e1")
    await xadd(world.job("suspended", phone(p, 6)))
    world.refused.append(phone(p, 6))
    await world.run_worker_until_final()
    await world.reinstate_unit("county-e1")
    # a suspended operator: a system answers to the operator who registered it
    kept = Principal(PrincipalKind.SYSTEM, "kept-e1", "county-e1", frozenset({Kind.OVERDUE_FILING}), keeper="e1admin")
    await PrincipalBook(world.redis, world.keys).register(kept, "kept-e1")
    await world.book().suspend(world.ops["eadmin"], "e1admin", "违规登记")
    await xadd(world.job("kept", phone(p, 7)), principal=kept.tag)
    world.refused.append(phone(p, 7))
    await world.run_worker_until_final()
    await world.book().reinstate(world.ops["eadmin"], "e1admin")  # reinstated: the system sends again
    await xadd(world.job("kept-again", phone(p, 10)), principal=kept.tag)
    world.allowed.append(phone(p, 10))
    await world.run_worker_until_final()
    dead = {f[b"id"].decode(): f[b"reason"].decode() for _, f in await world.redis.xrange(world.keys.dead_letters)}
    assert "registered system" in dead["anonymous"] and "registered system" in dead["impostor"]
    assert "approved campaign" in dead["notice"] and "suspended" in dead["suspended"]
    assert all("forbidden content" in dead[f"t{i}"] for i in range(len(TRICKS)))
    assert "【国家税务总局】" in dead["forged"] and "outside its jurisdiction" in dead["outside"]
    assert "may not sign as operator 'padmin'" in dead["padmin"]
    assert "system:kept-e1 was registered by operator e1admin, who is suspended: 违规登记" in dead["kept"]
    codes = await world.refusal_codes("worker")
    assert codes["content"] == len(TRICKS) and codes["anonymous"] == 2 and codes["suspended"] == 2
    refusals = [e for e in await world.audit("send.refused") if e["actor"] == kept.tag]
    assert [e["details"]["codes"] for e in refusals] == [{"suspended": 1}]  # type: ignore[index]
    assert_nothing_reached_the_smsc(world)


async def test_campaign_path(world: World, redis: Redis, keys: Keys) -> None:
    p = 4
    book = world.book()
    campaigns = CampaignBook(redis, keys, UNITS, book)
    pub, approver = world.ops["e1pub"], world.ops["eadmin"]
    ok = await campaigns.create(world.ops["e1admin"], "明天9点开会。", [(phone(p, 0), "county-e1")], name="ok")
    assert await campaigns.approve(world.ops["padmin2"], ok.id) == 1  # eadmin created e1admin's account
    world.allowed.append(phone(p, 0))
    pending = await campaigns.create(pub, "未批准的通知。", [(phone(p, 1), "county-e1")], name="unapproved")
    for i, trick in enumerate(TRICKS):
        with pytest.raises(ContentRejected):
            await campaigns.create(pub, f"您好，{trick}。", [(phone(p, 2, i), "county-e1")], name=f"t{i}")
    with pytest.raises(ValueError, match="【】"):
        await campaigns.create(pub, FORGED, [(phone(p, 3), "county-e1")], name="forged")
    with pytest.raises(OutOfScope, match="outside its jurisdiction"):
        await campaigns.create(pub, "通知。", [(phone(p, 4), "county-w1")], name="outside")
    # approved, then its creator is suspended: what is queued ends rejected
    late = await campaigns.create(pub, "将被停止的通知。", [(phone(p, 5), "county-e1")], name="late")
    await campaigns.approve(approver, late.id)
    await book.suspend(world.ops["e1admin"], "e1pub", "违规")
    with pytest.raises(PermissionDenied, match="suspended"):
        await campaigns.approve(approver, pending.id)
    world.refused += [phone(p, c) for c in (1, 3, 4, 5)] + [phone(p, 2, i) for i in range(len(TRICKS))]
    await world.run_worker_until_final()
    # a suspended unit: an approved campaign of a unit suspended before it went out
    other = await book.add(world.ops["e1admin"], "e1pub2", "吴发布", "county-e1", ["publisher"], PASSWORD)
    other = await book.confirm(world.ops["eadmin"], other.id)
    unit_campaign = await campaigns.create(other, "单位停用后的通知。", [(phone(p, 6), "county-e1")], name="unit")
    await campaigns.approve(approver, unit_campaign.id)
    await world.suspend_unit("county-e1")
    world.refused.append(phone(p, 6))
    await world.run_worker_until_final()
    store = JobStore(redis, keys)
    for campaign in (late, unit_campaign):
        record = await store.job(f"{campaign.id}-000001")
        assert record is not None and record["state"] == "rejected" and "suspended" in record["error"]
    refused = [e for e in await world.audit("campaign.refused")]
    assert len(refused) == len(TRICKS) + 3  # the tricks, the forged text, the outside recipient, the approval
    assert (await world.refusal_codes("worker"))["suspended"] == 2
    assert (await campaigns.status(pending.id)).counts == {"pending_approval": 1}
    assert_nothing_reached_the_smsc(world)


async def test_staff_answer_path(world: World, redis: Redis, keys: Keys) -> None:
    p = 5
    inbox, gate = Inbox(redis, keys), Gate(redis, keys, max_age=0)
    staff = world.ops["e1staff"]

    async def ticket(case: int, n: int = 0) -> str:
        created, _ = await inbox.create(phone(p, case, n), "我要咨询", mo_id=f"{case}-{n}", unit="county-e1")
        return created.id

    ok = await inbox.answer(await ticket(0), staff, "已受理。", gate)
    assert ok.text == "【东市甲县税务局】已受理。（经办人：周客服）"
    await JobStore(redis, keys).enqueue([ok])
    world.allowed.append(phone(p, 0))
    # an unapproved notice: an answer is a reply, never a notice; an out-of-unit recipient: it goes to who wrote in
    for i, trick in enumerate(TRICKS):
        with pytest.raises(TicketError, match="forbidden content"):
            await inbox.answer(await ticket(2, i), staff, f"您好，{trick}。", gate)
    with pytest.raises(TicketError, match="国家税务总局"):
        await inbox.answer(await ticket(3), staff, FORGED, gate)
    await world.book().suspend(world.ops["e1admin"], "e1staff", "违规")
    suspended = await world.book().get("e1staff")
    with pytest.raises(TicketError, match="may not send"):
        await inbox.answer(await ticket(5), suspended, "已受理。", gate)
    await world.book().reinstate(world.ops["e1admin"], "e1staff")
    await world.suspend_unit("county-e1")
    with pytest.raises(TicketError, match="suspended"):
        await inbox.answer(await ticket(6), staff, "已受理。", gate)
    world.refused += [phone(p, c) for c in (3, 5, 6)] + [phone(p, 2, i) for i in range(len(TRICKS))]
    codes = await world.refusal_codes("inbox")
    assert codes == {"content": len(TRICKS), "signature": 1, "suspended": 2}
    await world.reinstate_unit("county-e1")
    await world.run_worker_until_final()
    assert_nothing_reached_the_smsc(world)


async def test_reply_service_path(world: World, redis: Redis, keys: Keys) -> None:
    p = 6
    provider = RedisProvider(redis, keys)
    rows = ["reference,status", "SL0001,已受理，审核中", "SL0002,【国家税务总局】请转账"]
    rows += [f"SL01{i:02d},{trick}" for i, trick in enumerate(TRICKS)]
    await provider.load_status_csv(rows)
    service = ReplyService(redis, keys, provider, ReplyConfig(unit="county-e1", consumer="t", batch=100))
    service.gate.max_age = 0
    await service.ensure_group()

    async def mo(to: str, text: str) -> None:
        await redis.xadd(keys.mo, {"from": to, "to": "12366", "text": text, "at": "1796000000.000"})

    await mo(phone(p, 0), "CX SL0001")
    world.allowed.append(phone(p, 0))
    # the service sends only replies (no notices), to whoever wrote in (no recipient unit), as no operator
    for i in range(len(TRICKS)):
        await mo(phone(p, 2, i), f"CX SL01{i:02d}")
    await mo(phone(p, 3), "CX SL0002")
    outcomes = await service.process_batch()
    assert outcomes[0].job_id and outcomes[0].text == "【东市甲县税务局】受理编号SL0001：已受理，审核中"
    assert all("forbidden content" in o.refused for o in outcomes[1 : 1 + len(TRICKS)])
    assert "国家税务总局" in outcomes[-1].refused
    await world.suspend_unit("county-e1")
    await mo(phone(p, 6), "KT")
    [suspended] = await service.process_batch()
    assert "suspended" in suspended.refused and not suspended.job_id
    world.refused += [phone(p, c) for c in (3, 6)] + [phone(p, 2, i) for i in range(len(TRICKS))]
    codes = await world.refusal_codes("replies")
    assert codes == {"content": len(TRICKS), "signature": 1, "suspended": 1}
    await world.reinstate_unit("county-e1")
    await world.run_worker_until_final()
    assert_nothing_reached_the_smsc(world)


def assert_nothing_reached_the_smsc(world: World) -> None:
    assert world.allowed and all(world.texts_to(p) for p in world.allowed)
    reached = [p for p in world.refused if world.texts_to(p)]
    assert not reached, f"refused messages reached the SMSC: {reached}"
    assert FINAL_STATES  # every job checked above is final (run_worker_until_final waited for it)


async def test_a_job_without_recipient_unit_takes_it_from_the_directory_on_every_path(
    world: World, tmp_path: Path
) -> None:
    """The recipient's unit is taken from the directory when a job leaves it out (the taxpayers registered on
    the phone, the taxpayer the job names, staff) and checked against the sender's scope; unknown: refused."""
    from taxsms.directory.directory import Change, Directory, Origin
    from taxsms.directory.ids import uscc_check_character
    from taxsms.directory.records import staff, taxpayer
    from taxsms.replies.subscriptions import How

    def uscc(n: int) -> str:
        return f"91350100{n:09d}" + uscc_check_character(f"91350100{n:09d}")

    p = 7
    mine, other, agent, member, unknown = (phone(p, c) for c in range(5))
    directory = Directory(world.redis, world.keys)
    origin = Origin(How.IMPORT, "imp-1", "row")
    records = [
        taxpayer(UNITS, uscc(1), "甲公司", "sub-e1-town", [(mine, "legal")]),
        taxpayer(UNITS, uscc(2), "乙公司", "county-w1", [(other, "legal"), (agent, "agent")]),
        taxpayer(UNITS, uscc(3), "丙公司", "county-e1", [(agent, "agent")]),  # a tax agent of both counties
    ]
    await directory.apply([Change(record, {}, origin) for record in records], 0.0)
    await directory.put_staff([staff(UNITS, "S1", "吴员工", "county-e1", member)])

    def without_unit(job_id: str, to: str, **extra: object) -> dict[str, object]:
        return {k: v for k, v in world.job(job_id, to, **extra).items() if k != "recipient_unit"}

    # the CLI
    lines = [without_unit(f"cli-{n}", to) for n, to in enumerate((mine, agent, member, other, unknown))]
    lines.append(without_unit("cli-named", agent, taxpayer_id=uscc(3)))  # the named taxpayer's unit decides
    lines.append(without_unit("cli-lent", other, taxpayer_id=uscc(1)))  # not its phone: lends it no unit
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert await asyncio.to_thread(cli, world, "enqueue", "--token", world.token, str(jobs)) == 5  # partial
    store = JobStore(world.redis, world.keys)
    expected = {"cli-0": "sub-e1-town", "cli-1": "county-e1", "cli-2": "county-e1", "cli-named": "county-e1"}
    queued = {}
    for lane in range(4):
        for _, fields in await world.redis.xrange(world.keys.lane(lane)):
            job = parse_job(fields[b"job"])
            queued[job.id] = job.recipient_unit
    for job_id, unit in expected.items():
        assert queued[job_id] == unit, job_id
    dead = {f[b"id"].decode(): f[b"reason"].decode() for _, f in await world.redis.xrange(world.keys.dead_letters)}
    assert "outside its jurisdiction" in dead["cli-3"] and "does not know" in dead["cli-4"]
    assert "outside its jurisdiction" in dead["cli-lent"]

    # the API
    async with running_api(world.redis, world.keys) as api:
        token = await county_token(world.redis, world.keys)
        response = await api.post_jobs([without_unit("a0", mine), without_unit("a1", other)], token=token)
        body = await response.json()
        assert (body["accepted"], body["rejected"]) == (1, 1)
        assert "outside its jurisdiction" in body["errors"][0]["reason"]

    # raw intake: the worker looks the batch up at its first admission
    for job_id, to in (("raw-0", mine), ("raw-1", other), ("raw-2", unknown)):
        payload = msgspec.json.encode({**without_unit(job_id, to), "principal": "system:filing-e1"})
        await world.redis.xadd(world.keys.intake, {"id": job_id, "job": payload})

    # a campaign: a recipient given without a unit
    campaigns = CampaignBook(world.redis, world.keys, UNITS, world.book())
    ok = await campaigns.create(world.ops["e1pub"], "明天9点开会。", [(member, "")], name="staff")
    with pytest.raises(OutOfScope):
        await campaigns.create(world.ops["e1pub"], "明天9点开会。", [(other, "")], name="other")
    with pytest.raises(ValueError, match="not in the directory"):
        await campaigns.create(world.ops["e1pub"], "明天9点开会。", [(unknown, "")], name="unknown")
    assert await campaigns.approve(world.ops["eadmin"], ok.id) == 1

    world.allowed += [mine, agent, member]
    await world.run_worker_until_final()
    dead = {f[b"id"].decode(): f[b"reason"].decode() for _, f in await world.redis.xrange(world.keys.dead_letters)}
    assert "outside its jurisdiction" in dead["raw-1"] and "does not know" in dead["raw-2"]
    for job_id in [*expected, "raw-0"]:
        record = await store.job(job_id) or {}
        assert record.get("state") == "delivered", (job_id, record)
    assert world.texts_to(other) == [] and world.texts_to(unknown) == []
    assert len(world.texts_to(mine)) == 3  # the CLI, the API, raw intake
    assert len(world.texts_to(agent)) == 2 and len(world.texts_to(member)) == 2  # the CLI twice; CLI, campaign


async def test_a_token_creates_a_campaign_pending_approval_and_never_sends_one(world: World) -> None:
    """Item 2: a token may create a notice campaign, pending approval, never send one directly; approval stays
    with operators (not the one who issued the token within the confirmation period), who sign it by name."""
    from taxsms.api.auth import TokenStore
    from taxsms.api.keys import ApiKeys

    p = 8
    store = TokenStore(world.redis, ApiKeys(world.keys))
    granted, _ = await store.create("county-e1", {"notice", "filing_reminder"}, {"*"}, actor="eadmin")
    plain, _ = await store.create("county-e1", {"filing_reminder"}, {"*"}, actor="eadmin")
    async with running_api(world.redis, world.keys) as api:

        async def propose(token: str, **body: object) -> tuple[int, dict[str, object]]:
            proposal = {"name": "申报提醒", "text": CLEAN, "recipients": [{"to": phone(p, 0)}], **body}
            response = await api.client.post(f"{api.url}/v1/campaigns", json=proposal, headers=api.auth(token))
            return response.status, await response.json()

        notice = {**world.job("direct", phone(p, 1)), "kind": "notice"}
        assert (await api.post_jobs(notice, token=granted)).status == 403  # never directly, even when granted
        status, body = await propose(plain)
        assert status == 403 and "not granted notice" in str(body["detail"])
        status, body = await propose(granted, recipients=[{"to": phone(p, 2), "recipient_unit": "county-w1"}])
        assert status == 403 and "outside its jurisdiction" in str(body["detail"])
        status, body = await propose(granted, text="您好，欢迎参与六合彩。")
        assert status == 403 and "forbidden content" in str(body["detail"])
        status, body = await propose(granted, text=FORGED)
        assert status == 422 and "【】" in str(body["detail"])
        status, body = await propose(granted, recipients=[{"to": phone(p, 0), "recipient_unit": "county-e1"}])
        assert status == 201 and body["state"] == "pending_approval", body
    campaign_id = str(body["id"])
    world.refused += [phone(p, c) for c in (1, 2)]
    await world.run_worker_until_final()
    assert world.texts_to(phone(p, 0)) == []  # pending: nothing of it is in any stream

    campaigns = CampaignBook(world.redis, world.keys, UNITS, world.book())
    with pytest.raises(PermissionDenied, match="created the account"):
        await campaigns.approve(world.ops["eadmin"], campaign_id)  # it issued the token just now
    assert await campaigns.approve(world.ops["padmin2"], campaign_id) == 1
    world.allowed.append(phone(p, 0))
    await world.run_worker_until_final()
    assert world.texts_to(phone(p, 0)) == [f"【东市甲县税务局】{CLEAN}（经办人：钱省管）"]
    creators = [e["actor"] for e in await world.audit("campaign.create")]
    refused = [e["actor"] for e in await world.audit("campaign.refused")]
    assert creators == [f"token:{(await store.check(granted, 0))[0].id}"]  # type: ignore[union-attr]
    assert len(refused) == 5  # four refused proposals, and eadmin's approval
    assert_nothing_reached_the_smsc(world)


async def test_a_token_whose_keeper_is_suspended_proposes_nothing_and_its_proposal_is_not_approved(
    world: World,
) -> None:
    """The keeper rule on the campaign path: while the operator who issued a token is suspended, the token's
    proposal is refused and one it made before is not approved; reinstated, the proposal is approved."""
    from taxsms.api.auth import TokenStore
    from taxsms.api.keys import ApiKeys

    p = 10
    token, _ = await TokenStore(world.redis, ApiKeys(world.keys)).create(
        "county-e1", {"notice"}, {"*"}, actor="e1admin"
    )
    why = "was issued by operator e1admin, who is suspended: 违规发放"
    async with running_api(world.redis, world.keys) as api:

        async def propose() -> tuple[int, dict[str, object]]:
            recipients = [{"to": phone(p, 0), "recipient_unit": "county-e1"}]
            proposal = {"name": "申报提醒", "text": CLEAN, "recipients": recipients}
            response = await api.client.post(f"{api.url}/v1/campaigns", json=proposal, headers=api.auth(token))
            return response.status, await response.json()

        status, body = await propose()
        assert status == 201, body
        await world.book().suspend(world.ops["eadmin"], "e1admin", "违规发放")
        status, refused = await propose()
        assert status == 403 and why in str(refused["detail"])
    campaigns = CampaignBook(world.redis, world.keys, UNITS, world.book())
    with pytest.raises(PermissionDenied, match=why):
        await campaigns.approve(world.ops["padmin2"], str(body["id"]))
    reasons = [e["details"]["reason"] for e in await world.audit("campaign.refused")]
    assert len(reasons) == 2 and all(why in reason for reason in reasons)
    await world.book().reinstate(world.ops["eadmin"], "e1admin")
    assert await campaigns.approve(world.ops["padmin2"], str(body["id"])) == 1
    world.allowed.append(phone(p, 0))
    await world.run_worker_until_final()
    assert len(world.texts_to(phone(p, 0))) == 1
    assert_nothing_reached_the_smsc(world)


async def test_a_token_with_its_keeper_in_its_principal_record_only_is_refused_at_intake(
    world: World, tmp_path: Path
) -> None:
    """Tokens issued from 3587150 to 74d1034 name their keeper in their principal record only, not in their own
    hash: intake reads the keeper from that record, as the worker does, so while the keeper is suspended
    POST /v1/jobs and `enqueue --token` refuse their jobs (nothing queued for the worker to reject later);
    reinstated, both are accepted and sent. A token with no principal record at all (issued before bd73ad0)
    is refused at intake, as the worker would refuse its jobs."""
    p = 12
    why = "was issued by operator e1admin, who is suspended: 违规发放"
    old = await token_issued_before_keepers(world.redis, world.keys, "e1admin")
    unregistered = await token_issued_before_keepers(world.redis, world.keys, "e1admin", registered=False)

    def jobs_file(name: str, case: int) -> str:
        path = tmp_path / f"{name}.jsonl"
        path.write_text(json.dumps(world.job(name, phone(p, case))) + "\n")
        return str(path)

    async def queued() -> int:
        return sum([await world.redis.xlen(world.keys.lane(n)) for n in range(4)])

    async with running_api(world.redis, world.keys) as api:
        api.app[GATE].max_age = 0  # see the suspension at once (production: within a second)
        await world.book().suspend(world.ops["eadmin"], "e1admin", "违规发放")
        response = await api.post_jobs(world.job("api-suspended", phone(p, 0)), token=old)
        assert response.status == 403 and why in (await response.json())["detail"]
        assert await asyncio.to_thread(cli, world, "enqueue", "--token", old, jobs_file("cli-suspended", 1)) == 5
        response = await api.post_jobs(world.job("api-unregistered", phone(p, 2)), token=unregistered)
        assert response.status == 403 and "not a registered principal" in (await response.json())["detail"]
        assert await asyncio.to_thread(cli, world, "enqueue", "--token", unregistered, jobs_file("cli-un", 3)) == 1
        assert await queued() == 0  # refused at intake, not accepted for the worker to reject
        assert await world.refusal_codes("api") == {"suspended": 1, "unknown_principal": 1}
        assert await world.refusal_codes("cli") == {"suspended": 1}
        world.refused += [phone(p, case) for case in range(4)]

        await world.book().reinstate(world.ops["eadmin"], "e1admin")
        assert (await api.post_jobs(world.job("api-again", phone(p, 4)), token=old)).status == 202
    assert await asyncio.to_thread(cli, world, "enqueue", "--token", old, jobs_file("cli-again", 5)) == 0
    assert await queued() == 2
    world.allowed += [phone(p, 4), phone(p, 5)]
    await world.run_worker_until_final()
    assert_nothing_reached_the_smsc(world)


async def test_the_quota_hard_stop_overshoots_by_less_than_one_batch(world: World) -> None:
    """Item 7: two campaigns each within the quota of 7 are approved before either is sent (5 messages of one
    segment and 3 of two: 11 in all), then a worker with the default buffer (one batch, 64 entries, takes
    them all at once) sends them. The claim script holds each claimed job's segments against the quota until
    its submit is answered, so what is claimed never goes past it: exactly 7 segments go out (overshoot 0 on
    one shard, at most one batch in any case), the rest end suppressed naming the quota."""
    from taxsms.governance.accounting import Accounting

    p = 9
    await Accounting(world.redis, world.keys, UNITS).set_quota("county-e1", 7)
    campaigns = CampaignBook(world.redis, world.keys, UNITS, world.book())
    ids = []
    sizes = {"明天9点开会。": 5, "明天9点开会，" * 12: 3}  # 1 and 2 segments (UCS2, 67 a part)
    for half, (text, n) in enumerate(sizes.items()):
        recipients = [(phone(p, half, i), "county-e1") for i in range(n)]
        created = await campaigns.create(world.ops["e1pub"], text, recipients, name=f"会议{half}")
        assert await campaigns.approve(world.ops["eadmin"], created.id) == n
        ids.append((created.id, n))
    await world.run_worker_until_final()
    store = JobStore(world.redis, world.keys)
    counts = await store.counts()
    sent = world.sim.stats.accepted
    assert sent == 7, (sent, counts)
    states = [await store.job(f"{cid}-{i:06d}") for cid, n in ids for i in range(1, n + 1)]
    done = [r for r in states if r and r["state"] == "delivered"]
    assert sum(int(r["parts"]) for r in done) == 7
    quota = "monthly quota of 7 segments reached for county-e1"
    assert sum(quota in (r or {}).get("error", "") for r in states) == counts["suppressed"] == 8 - len(done)
    month = f"{datetime.now(CHINA):%Y-%m}"
    assert not await world.redis.exists(world.keys.quota_held(month))  # every held segment settled
    assert await world.redis.hget(world.keys.usage(month), "county-e1|*") == b"7"


async def test_a_raw_job_without_unit_is_counted_against_its_units_quota(world: World) -> None:
    """The hole: a raw job without `unit` escaped its unit's quota. Admission fills the unit in from its
    principal, so its segments count in its unit's usage, which the quota is checked against."""
    job = world.job("raw-no-unit", phone(10, 0))
    assert "unit" not in job
    payload = msgspec.json.encode({**job, "principal": "system:filing-e1"})
    await world.redis.xadd(world.keys.intake, {"id": "raw-no-unit", "job": payload})
    world.allowed.append(phone(10, 0))
    await world.run_worker_until_final()
    record = await JobStore(world.redis, world.keys).job("raw-no-unit") or {}
    assert record.get("unit") == "county-e1" and record.get("state") == "delivered"
    usage = await world.redis.hgetall(world.keys.usage(f"{datetime.now(CHINA):%Y-%m}"))
    assert usage[b"county-e1|*"] == b"1" and b"-|*" not in usage


async def test_a_queued_job_naming_no_principal_is_refused_by_the_worker(world: World) -> None:
    """An in-process caller's raw JobStore.enqueue (or XADD into a lane) of a job naming nobody: the worker
    rejects it as anonymous, audited, and the SMSC sees nothing."""
    p = 11
    signed = "【东市甲县税务局】" + CLEAN
    jobs = [parse_job(msgspec.json.encode(world.job(f"nobody-{n}", phone(p, n), signed))) for n in range(2)]
    await JobStore(world.redis, world.keys).enqueue(jobs[:1])
    await world.redis.xadd(world.keys.lane(1), {"job": msgspec.json.encode(jobs[1])})  # straight into a lane
    world.refused += [phone(p, 0), phone(p, 1)]
    await world.run_worker_until_final()
    assert not world.sim.accepted_log  # the simulator recorded nothing
    store = JobStore(world.redis, world.keys)
    for n in range(2):
        record = await store.job(f"nobody-{n}") or {}
        assert record["state"] == "rejected" and "every job must name its sender" in record["error"], record
    refusals = [e for e in await world.audit("send.refused") if e["details"]["path"] == "worker"]  # type: ignore[index]
    assert [(e["actor"], e["details"]["codes"]) for e in refusals] == [("anonymous", {"anonymous": 2})]  # type: ignore[index]
