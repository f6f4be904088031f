"""A phone's recent messages: begin.lua lists each job once, the first time it handles it, capped per phone."""

from __future__ import annotations

from conftest import sender
from redis.asyncio import Redis

from taxsms.queue.jobs import Job, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import RECENT_PER_PHONE, JobStore

PHONE = "13910000001"


async def claim_all(store: JobStore) -> list[tuple[object, Job]]:
    claimed = []
    while entries := await store.read("c", store.streams, 64, None):
        pairs = [(e, parse_job(e.payload)) for e in entries]
        await store.begin(pairs)
        claimed += pairs
    return claimed


async def test_each_message_is_listed_once_newest_first_and_the_list_is_capped(redis: Redis, keys: Keys) -> None:
    clock = [1_000.0]
    store = JobStore(redis, keys, clock=lambda: clock[0])
    await store.ensure_group()
    send = await sender(redis, keys)
    await store.enqueue(await send.jobs([Job("first", "overdue_filing", PHONE, "通知"),
                                         Job("other", "overdue_filing", "13910000002", "x")]))  # fmt: skip
    claimed = await claim_all(store)
    await store.begin(claimed[:1])  # claimed again (a restart before submitting): not listed twice
    assert [r["id"] for r in await store.recent_to(PHONE)] == ["first"]
    assert (await store.recent_to(PHONE))[0]["state"] == "submitting"
    for n in range(RECENT_PER_PHONE * 2):
        clock[0] += 1
        await store.enqueue(await send.jobs([Job(f"n{n:02d}", "overdue_filing", PHONE, "通知")]))
        await claim_all(store)
    recent = [r["id"] for r in await store.recent_to(PHONE)]
    assert RECENT_PER_PHONE <= len(recent) <= RECENT_PER_PHONE + 10  # trimmed back now and then
    assert recent[:3] == ["n59", "n58", "n57"] and "first" not in recent
    assert await redis.ttl(keys.phone_messages(PHONE)) > 0  # it goes with the job records
    assert [r["id"] for r in await store.recent_to("13910000002")] == ["other"]
    assert await store.recent_to("13910000003") == []
