"""Receipts end to end through the real simulator: ids in either base with no setting, receipts that never
come, stat words no standard knows."""

from __future__ import annotations

import asyncio

import pytest
from conftest import sender, wait_until
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.channels.smpp import DeliverSm, decode, encode, parse_receipt
from taxsms.dispatcher.receipts import receipt_update
from taxsms.queue.keys import Keys
from tests.test_worker import job, worker_for

JOBS = 400


async def run_until(worker_task: asyncio.Task[None], predicate: object) -> None:
    await wait_until(predicate)  # type: ignore[arg-type]
    assert not worker_task.done()


@pytest.mark.parametrize("receipt_tlvs", [False, True])
async def test_a_decimal_writing_smsc_needs_no_setting(
    redis: Redis, redis_url: str, keys: Keys, receipt_tlvs: bool
) -> None:
    """The simulator answers submit_sm in hex (1, 2, ... a, ..., 11, ...) and writes receipt texts in decimal,
    so most receipt ids are valid in both bases and many name another live message ("17" is 0x11, and 0x17
    is live too). Every job ends with its own receipt."""
    config = SimulatorConfig(dlr_ms=30, receipt_id_format="decimal", receipt_tlvs=receipt_tlvs, undeliv_rate=0.3)
    async with SmscSimulator(config) as sim:
        await (await sender(redis, keys)).enqueue([job(i) for i in range(JOBS)])
        worker = worker_for(redis_url, keys, sim)
        task = asyncio.create_task(worker.run())

        async def decided() -> bool:
            counts = await worker.store.counts()
            return counts["delivered"] + counts["undelivered"] == JOBS

        await run_until(task, decided)
        worker.stop()
        await task
    counts, stats = await worker.store.counts(), await worker.store.stats()
    assert counts["submitted"] == 0 and counts["unconfirmed"] == 0
    assert 0.15 * JOBS < counts["undelivered"] < 0.45 * JOBS
    assert stats.get("ambiguous_receipts", 0) == 0 and stats.get("refused_transitions", 0) == 0
    # Each job's receipt is the one for its own message: the simulator said UNDELIV for exactly these.
    records = [await worker.store.job(f"j{i}") or {} for i in range(JOBS)]
    assert all(r["r1"] == ("UNDELIV" if r["state"] == "undelivered" else "DELIVRD") for r in records)


async def test_a_message_whose_receipt_never_comes_ends_unconfirmed(redis: Redis, redis_url: str, keys: Keys) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=3_600_000)) as sim:  # receipts an hour away
        await (await sender(redis, keys)).enqueue([job(i) for i in range(5)])
        worker = worker_for(redis_url, keys, sim, receipt_timeout_s=0.5)
        task = asyncio.create_task(worker.run())

        async def unconfirmed() -> bool:
            return (await worker.store.counts())["unconfirmed"] == 5

        await run_until(task, unconfirmed)
        worker.stop()
        await task
    record = await worker.store.job("j0") or {}
    assert record["state"] == "unconfirmed" and "no delivery receipt" in record["error"]
    assert worker.stats.unconfirmed == 5
    assert (await worker.store.stats())["receipt_timeouts"] == 5


@pytest.mark.parametrize(
    ("text", "tlv_state", "outcome"),
    [
        ("id:1a stat:PWNED err:000", None, "unknown"),
        ("id:1a stat:UNKNOWN err:000", None, "unknown"),
        ("id:1a stat:UNDELIV err:001", None, "undelivered"),
        ("id:1a stat:REJECTD err:001", None, "undelivered"),
        ("id:1a stat:DELIVRD err:000", None, "delivered"),
        ("id:1a stat:PWNED err:000", 7, "unknown"),  # message_state UNKNOWN
        ("id:1a stat:ENROUTE err:000", None, None),  # interim: nothing to record
    ],
)
def test_what_a_receipt_means_for_its_job(text: str, tlv_state: int | None, outcome: str | None) -> None:
    pdu = DeliverSm(
        sequence_number=1,
        esm_class=4,
        source_addr="8613900000001",
        short_message=text.encode(),
        message_state=tlv_state,
    )
    decoded = decode(encode(pdu))
    assert isinstance(decoded, DeliverSm)
    update = receipt_update(parse_receipt(decoded))
    if outcome is None:
        assert update is None
    else:
        assert update is not None and update.outcome == outcome and update.phone == "13900000001"
