"""`taxsms dead list|show|requeue` and the reasons in enqueue's summary, on a real Redis and SMSC simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from conftest import sender
from redis.asyncio import Redis

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.cli import main
from taxsms.dead import listing, requeue
from taxsms.directory.directory import Directory
from taxsms.directory.records import Staff
from taxsms.governance.admission import Gate
from taxsms.governance.audit import AuditLog
from taxsms.governance.policy import UPSTREAM_KINDS, Principal, PrincipalKind
from taxsms.governance.registry import PrincipalBook
from taxsms.queue.jobs import Job, JobError, Kind, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer
from taxsms.queue.store import JobStore
from tests.governance_support import county_token, seed_units
from tests.test_flow_control import line, make_worker, settled
from tests.test_worker import wait_until

JOBS = (
    '{"id": "d1", "kind": "overdue_filing", "to": "13800138000", "recipient_unit": "county-e1", "text": "通知"}\n'
    '{"id": "d2", "kind": "lottery", "to": "13800138000", "text": "【某县税务局】x"}\n'
    '{"id": "d3", "kind": "notice", "to": "12345", "text": "【某县税务局】x"}\n'
    "not json\n"
)


async def _county_token(redis_url: str, keys: Keys) -> str:
    client = Redis.from_url(redis_url)
    try:
        await seed_units(client, keys)
        return await county_token(client, keys)
    finally:
        await client.aclose()


def test_enqueue_names_each_refusal_and_dead_list_shows_them(
    tmp_path: Path, redis_url: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text(JOBS, encoding="utf-8")
    common = ["--redis-url", redis_url, "--prefix", keys.prefix]
    token = ["--token", asyncio.run(_county_token(redis_url, keys))]  # jobs are sent by a principal
    assert main(["enqueue", *common, *token, str(path)]) == 5
    out, err = capsys.readouterr()
    summary = "enqueued 1 jobs; 3 refused to the dead-letter stream (kind: 1, to: 1, job: 1; see taxsms dead list)"
    assert out == summary + "\n"
    lines = err.splitlines()
    assert [x.split(":")[0] for x in lines] == ["line 2", "line 3", "line 4"]
    assert lines[0].startswith("line 2: kind: ") and "lottery" in lines[0]
    assert lines[1].startswith("line 3: to: ")

    assert main(["dead", "list", *common]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 3
    assert rows[0].split()[2] == "-" and " job: " in rows[0]  # newest first: the line that was not JSON
    assert rows[1].split()[2] == "d3" and " to: " in rows[1]  # the id it carried, though refused
    assert rows[2].split()[2] == "d2" and " kind: " in rows[2]
    entry = rows[1].split()[0]
    assert main(["dead", "show", *common, entry]) == 0
    shown = capsys.readouterr().out
    assert '"id": "d3"' in shown and '"to": "****2345"' in shown  # the job's number is masked
    assert main(["dead", "show", *common, entry, "--show-phone"]) == 0
    assert '"to": "12345"' in capsys.readouterr().out
    assert main(["dead", "requeue", *common, entry]) == 5
    out = capsys.readouterr().out
    assert f"{entry}: still invalid: to: " in out
    assert out.endswith("0 requeued, 0 duplicate, 1 still invalid, 0 refused\n")
    assert main(["dead", "show", *common, "0/1-1"]) == 1
    assert main(["dead", "requeue", *common]) == 2  # neither entries nor --all


async def test_requeue_after_an_smsc_outage_sends_the_job(redis: Redis, redis_url: str, keys: Keys) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=5)) as sim:
        sim.config.syserr_prefixes = ("86139",)  # the SMSC fails these transiently, for too long
        store = JobStore(redis, keys)
        await (await sender(redis, keys)).enqueue([line(1)])
        worker = make_worker(redis_url, keys, sim, send_window="00:00-24:00", max_retries=1, retry_base_s=0.05)
        task = asyncio.create_task(worker.run())
        await wait_until(lambda: settled(worker, 1))
        assert (await store.job("filing_reminder-1") or {})["state"] == "dead_lettered"
        assert (await store.counts())["dead_lettered"] == 1

        sim.config.syserr_prefixes = ()  # the outage is over
        common = ["--redis-url", redis_url, "--prefix", keys.prefix]
        assert await asyncio.to_thread(main, ["dead", "requeue", *common, "--all"]) == 0

        async def delivered() -> bool:
            return (await store.job("filing_reminder-1") or {}).get("state") == "delivered"

        await wait_until(delivered)
        worker.stop()
        await task
    counts = await store.counts()
    assert counts["dead_lettered"] == 0 and counts["delivered"] == 1
    assert await redis.xlen(keys.dead_letters) == 0
    assert await asyncio.to_thread(main, ["dead", "requeue", *common, "--all"]) == 0  # nothing left: no-op


async def test_requeue_admits_each_job_again_for_its_own_principal(redis: Redis, redis_url: str, keys: Keys) -> None:
    """A dead letter naming no principal, or one no longer registered, is refused (audited) and stays."""
    send = await sender(redis, keys)
    store, error = JobStore(redis, keys), JobError("smsc", "outage")
    admitted = (await send.jobs([line(1)]))[0]
    anonymous = Job("anon-1", Kind.FILING_REMINDER, "13900000002", "【某市税务局】请申报。", recipient_unit="city-01")
    stranger = msgspec.structs.replace(admitted, id="gone-1", principal="system:gone")
    for job in (admitted, anonymous, stranger):
        await store.dead_letter_raw(msgspec.json.encode(job), error)
    common = ["--redis-url", redis_url, "--prefix", keys.prefix]
    assert await asyncio.to_thread(main, ["dead", "requeue", *common, "--all"]) == 5
    assert await store.job(admitted.id) is not None  # requeued as its system's
    left = [fields[b"id"] for _, fields in await redis.xrange(keys.dead_letters)]
    assert sorted(left) == [b"anon-1", b"gone-1"]
    refused = [e async for e in AuditLog(redis, keys).entries() if e.action == "send.refused"]
    assert {(e.actor, e.details["codes"].popitem()[0]) for e in refused} == {  # type: ignore[attr-defined]
        ("anonymous", "anonymous"),
        ("system:gone", "unknown_principal"),
    }
    sent = [e async for e in AuditLog(redis, keys).entries() if e.action == "send"]
    assert [(e.actor, e.details["path"]) for e in sent] == [(send.principal.tag, "requeue")]


async def test_requeue_in_batches_gives_every_letter_its_own_outcome(own_redis: RedisServer) -> None:
    """Hundreds of dead letters of several principals, requeued 100 at a time: each is re-admitted for its
    own principal (the directory answering for those without a recipient unit), refused ones audited and
    kept, duplicates reported as such; and the round trips grow with the batches, not with the letters."""
    redis, keys = Redis.from_url(own_redis.url), Keys("rq", 1)
    store, book, error = JobStore(redis, keys), PrincipalBook(redis, keys), JobError("smsc", "outage")
    wide = await sender(redis, keys)
    narrow = Principal(PrincipalKind.SYSTEM, "narrow", "city-01", frozenset({Kind.FILING_REMINDER}))
    gone = Principal(PrincipalKind.SYSTEM, "gone", "city-01", UPSTREAM_KINDS)
    for principal in (narrow, gone):
        await book.register(principal)
    await Directory(redis, keys).put_staff([Staff("s1", "周员工", "city-01", "13700000005")])
    gate = Gate(redis, keys)
    await gate.prepare([])
    expected: dict[str, str] = {}  # job id -> 'requeued', 'duplicate', the refusal's code, or 'invalid'
    queued_before, dead_records = [], []
    for i in range(320):
        job = parse_job(line(i, recipient_unit="city-01"))
        case, outcome = i % 8, "requeued"
        if case == 0:
            job = gate.admit(job, wide.principal)
            if i % 40 == 0:
                queued_before.append(job)  # its id is queued again already
                outcome = "duplicate"
        elif case == 1:
            job = gate.admit(job, narrow)
            if i % 3 == 0:
                dead_records.append(job.id)  # died after being read: it keeps its record
        elif case == 2:
            job, outcome = msgspec.structs.replace(gate.admit(job, narrow), kind=Kind.OVERDUE_FILING), "kind"
        elif case == 3:
            job, outcome = gate.admit(job, gone), "unknown_principal"
        elif case == 4:
            outcome = "anonymous"
        elif case in (5, 6):  # the directory knows the staff member's phone, not the other one
            job = msgspec.structs.replace(gate.admit(job, wide.principal), recipient_unit="", to=f"1370000000{case}")
            outcome = "requeued" if case == 5 else "scope"
        else:
            job, outcome = msgspec.structs.replace(job, id=f"bad-{i}", to="12345"), "invalid"
        expected[job.id] = outcome
        await store.dead_letter_raw(msgspec.json.encode(job), error)
        if i == 9:  # the same letter twice: requeued once, then a duplicate
            await store.dead_letter_raw(msgspec.json.encode(job), error)
    await book.remove(gone.tag)
    await store.enqueue(queued_before)
    for job_id in dead_records:
        await redis.hset(keys.job(job_id), mapping={"state": "dead_lettered"})
    await redis.hincrby(keys.counts, "dead_lettered", len(dead_records))
    dead_before = (await store.counts())["dead_lettered"]
    letters = await listing(redis, keys, 1000)
    assert len(letters) == 321

    await redis.config_resetstat()
    outcomes = await requeue(redis, keys, letters, Gate(redis, keys, max_age=0), batch=100)
    stats, calls = await redis.info("stats"), await redis.info("commandstats")

    seen: set[str] = set()
    for letter, outcome in zip(letters, outcomes, strict=True):
        want = expected[letter.job_id]
        if want == "requeued" and letter.job_id in seen:
            want = "duplicate"  # the newer of the two letters of job 9 went first
        seen.add(letter.job_id)
        got = outcome if isinstance(outcome, str) else getattr(outcome, "code", "invalid")
        assert got == want, letter.job_id
        if want == "invalid":
            assert type(outcome) is JobError and outcome.field == "to"
    kept = sorted(fields[b"id"].decode() for _, fields in await redis.xrange(keys.dead_letters))
    assert kept == sorted(i for i, want in expected.items() if want not in ("requeued", "duplicate"))
    requeued = [i for i, want in expected.items() if want == "requeued"]
    assert all([await redis.hexists(keys.queued_index(i), i) for i in requeued])
    assert (await store.counts())["dead_lettered"] == dead_before - len(dead_records)  # each record reset once
    assert not any([await redis.exists(keys.job(i)) for i in dead_records])

    audited: dict[tuple[str, str], int] = {}
    async for entry in AuditLog(redis, keys).entries():
        assert entry.details["path"] == "requeue"
        for name in ("accepted", "duplicates", "refused"):
            audited[(entry.actor, name)] = audited.get((entry.actor, name), 0) + entry.details.get(name, 0)
    wide_tag, narrow_tag = wide.principal.tag, narrow.tag
    assert {k: v for k, v in audited.items() if v} == {
        (wide_tag, "accepted"): 80 - len(queued_before),  # cases 0 and 5
        (wide_tag, "duplicates"): len(queued_before),
        (wide_tag, "refused"): 40,  # case 6: no unit in the directory
        (narrow_tag, "accepted"): 40,
        (narrow_tag, "duplicates"): 1,  # job 9's second letter
        (narrow_tag, "refused"): 40,  # case 2: a kind it may not send
        (gone.tag, "refused"): 40,
        ("anonymous", "refused"): 40,
    }

    # Four batches: the gate reads the registry (six HGETALLs) and the staff hash once per batch, and every
    # round trip (a pipeline: one socket read or a few) serves a batch, not a letter.
    assert calls["cmdstat_hgetall"]["calls"] == 4 * 7
    assert stats["total_reads_processed"] / len(letters) < 0.5
    await redis.aclose()
