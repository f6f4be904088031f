"""The directory end to end through the SMSC simulator over real TCP and real Redis: import the directory,
consent and filings; plan VAT reminders; only the unfiled and subscribed get one, a taxpayer who files after
planning is suppressed ("filed"), an SMS TD between planning and sending wins; an audience campaign reaches
exactly the directory's subscribed taxpayers of the county; expiry becomes the submit_sm validity_period."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from conftest import sender, wait_until
from redis.asyncio import Redis

from taxsms.channels.addressing import smpp_time
from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.channels.smpp import SubmitSm, parse_concat_udh
from taxsms.directory.audiences import Audience, AudienceKind
from taxsms.directory.deadlines import Filing
from taxsms.directory.directory import Directory
from taxsms.directory.filings import FilingBook
from taxsms.directory.ids import uscc_check_character
from taxsms.directory.imports import import_file
from taxsms.directory.reminders import plan_reminders
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.governance.campaigns import CampaignBook
from taxsms.governance.operators import OperatorBook
from taxsms.governance.units import UnitTree, save_units
from taxsms.holidays import PACKAGE
from taxsms.queue.jobs import CHINA
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies.config import ReplyConfig
from taxsms.replies.providers import RedisProvider
from taxsms.replies.service import ReplyService
from taxsms.templates.catalog import TemplateCatalog

TREE = UnitTree.from_file()
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
VAT = Filing("VAT", "2026-11")


def uscc(n: int) -> str:
    first = f"91350100{n:09d}"
    return first + uscc_check_character(first)


def phone(n: int) -> str:
    return f"1380000{n:04d}"


class RecordingSimulator(SmscSimulator):
    """The simulator, also keeping each accepted submit_sm's destination and validity period."""

    validity: dict[str, str]

    def _on_submit(self, client: Any, pdu: SubmitSm) -> None:
        self.validity[pdu.destination_addr[2:]] = pdu.validity_period
        super()._on_submit(client, pdu)


class BusinessClock:
    """Real time moved to a chosen China-time moment; `jump_to` moves it again (the worker reads it)."""

    def __init__(self, moment: str) -> None:
        self.jump_to(moment)

    def jump_to(self, moment: str) -> None:
        self.offset = datetime.fromisoformat(moment).replace(tzinfo=CHINA).timestamp() - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
async def simulator() -> AsyncIterator[RecordingSimulator]:
    sim = RecordingSimulator(SimulatorConfig(dlr_ms=5, keep_accepted=True))
    sim.validity = {}
    await sim.start()
    yield sim
    await sim.stop()


def received(sim: SmscSimulator) -> dict[str, int]:
    """Messages (not parts) the SMSC accepted, per phone."""
    counts: dict[str, int] = {}
    for _, destination, data in sim.accepted_log:
        concat, _ = parse_concat_udh(data) if data[:3] == b"\x05\x00\x03" else (None, data)
        if concat is None or concat.seqnum == concat.total:
            counts[destination[2:]] = counts.get(destination[2:], 0) + 1
    return counts


async def test_directory_reminders_and_audience_end_to_end(
    redis: Redis, redis_url: str, keys: Keys, tmp_path: Path, simulator: RecordingSimulator
) -> None:
    # 1..7 in county-e1 (5 in its sub-bureau), 8 in county-e2
    #   1 subscribed, unfiled -> reminder     2 subscribed, filed before planning -> none
    #   3 refused consent -> none             4 subscribed, files after planning -> suppressed 'filed'
    #   5 subscribed, texts TD after planning -> suppressed   6 never asked -> none
    #   7 subscribed, unfiled -> reminder     8 county-e2, subscribed, unfiled -> reminder
    consent = {1: ":1", 2: ":1", 3: ":0", 4: ":1", 5: ":1", 6: "", 7: ":1", 8: ":1"}
    unit = {5: "sub-e1-town", 8: "county-e2"}
    taxpayers = tmp_path / "taxpayers.csv"
    rows = [f"{uscc(n)},纳税人{n}公司,{unit.get(n, 'county-e1')},{phone(n)}:legal{f}\n" for n, f in consent.items()]
    taxpayers.write_text("taxpayer_id,name,unit,phones\n" + "".join(rows), encoding="utf-8")
    filings = tmp_path / "filings.csv"
    filings.write_text(f"taxpayer_id,tax,period,filed_at\n{uscc(2)},VAT,2026-11,2026-12-03T10:00:00\n")
    await save_units(redis, keys, TREE)
    directory = Directory(redis, keys)
    clock = BusinessClock("2026-12-08 07:30:00")  # a Tuesday, before the send window opens
    assert (await import_file(directory, TREE, taxpayers, operator="op-import", clock=clock)).failed == 0
    filing_book = FilingBook(redis, keys, directory)
    assert (await filing_book.import_csv(filings, clock=clock))[0].stored == 1

    config = WorkerConfig(redis_url=redis_url, prefix=keys.prefix, smsc_port=simulator.port, block_ms=20,
                          days_off=True, release_interval_s=0.05)  # fmt: skip
    worker = Worker(config, clock=clock)
    replies = ReplyService(  # answering for the province: replies are signed with its registered signature
        redis, keys, RedisProvider(redis, keys), ReplyConfig(unit=TREE.root, block_ms=20), clock=clock
    )
    tasks = [asyncio.create_task(worker.run()), asyncio.create_task(replies.run())]
    try:
        await wait_until(lambda: simulator.stats.binds >= 1)
        send = await sender(redis, keys)  # the province's system
        plan = await plan_reminders(directory, TREE, TemplateCatalog.from_dir(), VAT, sender=send.principal,
                                    days_before=3, tps=50,
                                    windows=config.windows(), calendar=PACKAGE, clock=clock)  # fmt: skip
        assert plan.feasible and sorted(job.to for job in plan.jobs) == [phone(n) for n in (1, 4, 5, 7, 8)]
        ids = {job.to: job.id for job in plan.jobs}
        assert await JobStore(redis, keys).enqueue(await send.jobs(plan.jobs)) == 5
        await wait_until(lambda: _all_in(redis, keys, ids.values(), "delayed"))  # 07:30: waiting for 08:00

        # between planning and sending: taxpayer 4 files, phone 5 texts TD
        late = tmp_path / "late.csv"
        late.write_text(f"{uscc(4)},VAT,2026-11,2026-12-08T07:40:00\n")
        await filing_book.import_csv(late, clock=clock)
        await simulator.inject_mo("86" + phone(5), "12366", "TD")
        await wait_until(lambda: received(simulator).get(phone(5)) == 1)  # the reply, sent at any hour
        assert await directory.consent.record(phone(5)) is not None

        clock.jump_to("2026-12-08 09:00:00")
        await wait_until(lambda: _all_final(redis, keys, ids.values()), timeout=15)
        store = JobStore(redis, keys)
        states = {to: await store.job(job_id) or {} for to, job_id in ids.items()}
        assert {to: s["state"] for to, s in states.items()} == {
            phone(1): "delivered", phone(4): "suppressed", phone(5): "suppressed", phone(7): "delivered",
            phone(8): "delivered",
        }  # fmt: skip
        assert states[phone(4)]["error"] == "filed"
        assert states[phone(5)]["error"] == "unsubscribed"
        got = received(simulator)
        assert {p: got.get(p, 0) for p in map(phone, range(1, 9))} == {
            phone(1): 1, phone(2): 0, phone(3): 0, phone(4): 0, phone(5): 1, phone(6): 0, phone(7): 1, phone(8): 1,
        }  # fmt: skip
        expires = next(job for job in plan.jobs if job.to == phone(1)).expires_ts
        assert simulator.validity[phone(1)] == smpp_time(expires) == "261216000000032+"

        # an audience campaign: the subscribed taxpayers of county-e1, from the directory
        operators = OperatorBook(redis, keys, TREE, hasher=FAST)
        root = await operators.bootstrap("P001", "王省", "correct horse")
        city_admin = await operators.add(root, "C001", "赵市", "city-east", ["admin"], "correct horse")
        second = await operators.add(root, "P002", "钱省", "prov", ["admin"], "correct horse")  # confirms C001
        city_admin = await operators.confirm(second, city_admin.id)  # new accounts: confirmed by the level above
        county_admin = await operators.add(city_admin, "K001", "孙县", "county-e1", ["admin"], "correct horse")
        creator = await operators.add(county_admin, "K010", "周县", "county-e1", ["publisher"], "correct horse")
        approver = await operators.add(county_admin, "K011", "吴县", "county-e1", ["publisher"], "correct horse")
        creator = await operators.confirm(city_admin, creator.id)
        approver = await operators.confirm(city_admin, approver.id)
        campaigns = CampaignBook(redis, keys, TREE, operators, clock=clock)
        audience = Audience(AudienceKind.TAXPAYERS, "county-e1", subscribed=True)
        campaign = await campaigns.create(creator, "本月申报期延长至12月15日。", [], name="延期通知", audience=audience)
        assert campaign.recipients == 4 and campaign.audience == "taxpayers of county-e1, subscribed"
        assert "138****000" in campaign.sample and phone(1) not in campaign.sample
        before = received(simulator)
        assert await campaigns.approve(approver, campaign.id) == 4
        await wait_until(lambda: sum(received(simulator).values()) == sum(before.values()) + 4, timeout=15)
        after = received(simulator)
        reached = sorted(p for p in after if after[p] > before.get(p, 0))
        assert reached == [phone(n) for n in (1, 2, 4, 7)]  # not 3 (refused), 5 (TD), 6 (never asked), 8 (county-e2)
    finally:
        worker.stop()
        replies.stop()
        await asyncio.gather(*tasks)


async def _all_in(redis: Redis, keys: Keys, job_ids: object, state: str) -> bool:
    store = JobStore(redis, keys)
    return all(s == state for s in await store.states(list(job_ids)))  # type: ignore[call-overload]


async def _all_final(redis: Redis, keys: Keys, job_ids: object) -> bool:
    store = JobStore(redis, keys)
    return all(s in ("delivered", "suppressed", "undelivered", "failed", "expired")
               for s in await store.states(list(job_ids)))  # type: ignore[call-overload]  # fmt: skip
