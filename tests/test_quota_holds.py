"""The quota's hard stop: a claimed job holds its segments against its unit's quota until it is settled."""

from __future__ import annotations

from datetime import datetime

import msgspec
from conftest import sender
from redis.asyncio import Redis

from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.jobs import CHINA, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import DispatchRules, JobStore, Settlement, StreamEntry


async def claimable(redis: Redis, keys: Keys, n: int) -> tuple[JobStore, dict[str, StreamEntry]]:
    """n overdue notices of county-e1 (quota 5 segments, their kind counted against it), read from their lane:
    job id -> entry. (Notices, the default quota kind, go out only as an approved campaign's.)"""
    await redis.set(keys.quota("county-e1"), 5)
    await save_units(redis, keys, UnitTree.from_file())
    notice = {"kind": "overdue_filing", "text": "通知"}
    lines = [msgspec.json.encode({**notice, "id": f"n{i}", "to": f"1380000000{i}"}) for i in range(1, n + 1)]
    await (await sender(redis, keys, "county-e1")).enqueue(lines)
    store = JobStore(redis, keys, rules=DispatchRules(quota_kinds=frozenset({"overdue_filing"})))
    await store.ensure_group()
    entries = await store.read("c", store.streams, 10, None)
    return store, {parse_job(e.payload).id: e for e in entries}


async def test_a_claim_holds_the_jobs_segments_and_settling_turns_them_into_usage_or_gives_them_back(
    redis: Redis, keys: Keys
) -> None:
    store, entries = await claimable(redis, keys, 4)
    month = f"{datetime.now(CHINA):%Y-%m}"
    held, usage = keys.quota_held(month), keys.usage(month)

    async def claim(*ids: str, **segments: int) -> list[bool]:
        return await store.begin([(entries[i], parse_job(entries[i].payload)) for i in ids], segments)

    # 2 + 2 fit in 5, the third 2 does not (1 left), a 1 does: nothing claimed goes past the quota
    assert await claim("n1", "n2", "n3", "n4", n1=2, n2=2, n3=2, n4=1) == [True, True, False, True]
    assert await redis.hget(held, "county-e1") == b"5"
    assert (await store.job("n1") or {})["held"] == f"{month} 2"
    assert "monthly quota of 5 segments reached for county-e1" in (await store.job("n3") or {})["error"]
    assert await claim("n1", n1=2) == [True]  # claimed again (its worker died): it keeps what it holds
    assert await redis.hget(held, "county-e1") == b"5"

    def settle(job_id: str, outcome: str, **extra: object) -> Settlement:
        entry = entries[job_id]
        return Settlement(
            job_id,
            entry.stream,
            entry.entry_id,
            outcome,
            "x",
            payload=entry.payload,
            **extra,  # type: ignore[arg-type]
        )

    await store.settle([settle("n1", "submitted", message_ids=["m1", "m2"])])  # held -> used
    assert await redis.hget(usage, "county-e1|*") == b"2" and await redis.hget(held, "county-e1") == b"3"
    assert "held" not in (await store.job("n1") or {})
    await store.settle([settle("n2", "retry"), settle("n4", "failed")])  # given back
    assert not await redis.hexists(held, "county-e1")
    assert (await store.job("n2") or {})["state"] == "delayed" and "held" not in (await store.job("n2") or {})
    assert await claim("n2", n2=3) == [True]  # its retry: 3 of the 3 left
    assert await redis.hget(held, "county-e1") == b"3" and await redis.ttl(held) > 0  # it ends with its month
    await store.settle([settle("n2", "rejected")])
    assert not await redis.exists(held)


async def test_replies_hold_nothing(redis: Redis, keys: Keys) -> None:
    line = b'{"id": "r1", "kind": "reply", "to": "13800000001", "text": "ok"}'
    await redis.set(keys.quota("city-01"), 0)  # the tests' system's unit
    await (await sender(redis, keys)).enqueue([line])
    store = JobStore(redis, keys)
    await store.ensure_group()
    [entry] = await store.read("c", store.streams, 10, None)
    assert await store.begin([(entry, parse_job(entry.payload))]) == [True]
    assert "held" not in (await store.job("r1") or {})
    assert not await redis.exists(keys.quota_held(f"{datetime.now(CHINA):%Y-%m}"))
