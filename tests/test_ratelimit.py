"""The shared GCRA rate limit on real Redis, with an injected clock, and the lane buffer's order."""

from __future__ import annotations

import asyncio
import math
from fractions import Fraction

from redis.asyncio import Redis

from taxsms.dispatcher.lanes import LaneBuffer, Room
from taxsms.dispatcher.ratelimit import RateLimiter, default_burst
from taxsms.queue.keys import Keys


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_grants_never_exceed_rate_plus_burst_in_any_second(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    # Three "workers" share one link: each its own limiter object on the same key.
    limiters = [RateLimiter(redis, keys.rate("link"), 200, burst=4, clock=clock) for _ in range(3)]
    sent: list[float] = []
    start = clock.now
    while clock.now < start + 5:
        progress = False
        for limiter in limiters:
            granted, _ = await limiter.try_take(3)
            sent += [clock.now] * granted
            progress = progress or granted > 0
        if not progress:
            clock.now += 0.001
    for offset in range(0, 4000, 50):  # every 1-second window, sliding by 50 ms
        lo = start + offset / 1000
        assert sum(1 for t in sent if lo <= t < lo + 1) <= 200 + 4
    assert len(sent) >= 5 * 200  # and the budget is used: 1,000 in 5 s


async def test_acquire_waits_for_the_budget_and_counts_segments(redis: Redis, keys: Keys) -> None:
    clock = FakeClock()
    limiter = RateLimiter(redis, keys.rate("l2"), 10, burst=1, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(4):
        await limiter.acquire(3)  # a 3-part message takes 3 segments of budget
    assert 1.0 <= clock.now - start <= 1.2  # 12 segments at 10/s, the first one free
    assert limiter.waits > 0


async def test_server_time_when_no_clock_is_given(redis: Redis, keys: Keys) -> None:
    assert default_burst(1000) == 5 and default_burst(10) == 1
    limiter = RateLimiter(redis, keys.rate("l3"), 10)  # 100 ms a segment: far longer than a round trip
    granted, wait = await limiter.try_take(100)
    assert granted == 1 and wait == 0
    granted, wait = await limiter.try_take(1)
    assert granted == 0 and 0 < wait <= 0.1


async def redis_now_us(redis: Redis) -> int:
    sec, usec = await redis.time()
    return sec * 1_000_000 + usec


async def check_rate(redis: Redis, keys: Keys, tps: int) -> None:
    """At Redis TIME, never "no room, no wait"; at an injected clock of the same magnitude, exact GCRA spacing."""
    live = RateLimiter(redis, keys.rate(f"live-{tps}"), tps)
    burst = live.burst
    assert await live.try_take(burst + 1) == (burst, 0)
    granted, wait = await live.try_take(1)
    assert (granted > 0) != (wait > 0), f"tps {tps}: granted {granted}, wait {wait}"
    t0 = await redis_now_us(redis) + tps  # ~1.8e15 µs, a different fraction of a second for each rate
    clock = FakeClock(t0 / 1_000_000)
    paced = RateLimiter(redis, keys.rate(f"paced-{tps}"), tps, clock=lambda: clock.now)
    paced_now = t0
    clock.now = paced_now / 1_000_000
    assert await paced.try_take(burst + 5) == (burst, 0)
    for m in range(1, 4):  # the m-th segment after the burst is due at exactly t0 + m / tps
        granted, wait = await paced.try_take(1)
        assert granted == 0 and wait > 0, f"tps {tps}: segment {m} granted early, or no wait given"
        paced_now += round(wait * 1_000_000)
        assert paced_now == math.ceil(t0 + Fraction(m * 1_000_000, tps)), f"tps {tps}: segment {m} due at the wrong µs"
        clock.now = paced_now / 1_000_000
        assert await paced.try_take(1) == (1, 0), f"tps {tps}: segment {m} refused when due"


async def test_every_integer_rate_from_1_to_2000_grants_and_paces_against_redis_time(redis: Redis, keys: Keys) -> None:
    for start in range(1, 2001, 100):
        await asyncio.gather(*(check_rate(redis, keys, tps) for tps in range(start, start + 100)))


async def test_pacing_stays_exact_for_minutes_of_continuous_load(redis: Redis, keys: Keys) -> None:
    """Past the script's one-minute re-basing of its integers, spacing is still exact (here 1 and 0.5 a second)."""
    for rate in (1, 0.5):
        t0 = await redis_now_us(redis)
        clock = FakeClock(t0 / 1_000_000)
        limiter = RateLimiter(redis, keys.rate(f"minutes-{rate}"), rate, burst=1, clock=lambda c=clock: c.now)
        now, times = t0, []
        while len(times) < 150 * rate:
            clock.now = now / 1_000_000
            granted, wait = await limiter.try_take(1)
            if granted:
                times.append(now)
            else:
                now += round(wait * 1_000_000)
        assert times == [t0 + round(i * 1_000_000 / rate) for i in range(len(times))]


class Item:
    def __init__(self, lane: int, name: str, segments: int = 1) -> None:
        self.lane, self.name, self.segments = lane, name, segments


async def test_lane_buffer_serves_the_most_urgent_lane_first() -> None:
    buffer: LaneBuffer[Item] = LaneBuffer(4)
    for item in (Item(3, "bulk"), Item(1, "overdue"), Item(2, "reminder"), Item(0, "reply"), Item(1, "overdue2")):
        buffer.put(item)
    order = [(await buffer.get()).name for _ in range(5)]  # type: ignore[union-attr]
    assert order == ["reply", "overdue", "overdue2", "reminder", "bulk"]
    buffer.close()
    assert await buffer.get() is None


async def test_room_keeps_a_share_for_replies_and_wakes_a_waiting_reader() -> None:
    room = Room(10, reserved=3)
    assert await room.reserve(100, replies=False) == 7  # the other lanes never take the reply share
    assert room.free(replies=False) == 0 and room.free(replies=True) == 3
    waiter = asyncio.create_task(room.reserve(5, replies=False, minimum=2))
    await asyncio.sleep(0)
    room.release(1, replies=False)
    await asyncio.sleep(0)
    assert not waiter.done()  # one free is less than the minimum
    room.release(1, replies=False)
    assert await asyncio.wait_for(waiter, 1) == 2
    assert await room.reserve(100, replies=True) == 3
    assert room.held == 10
    closed = asyncio.create_task(room.reserve(1, replies=True))
    await asyncio.sleep(0)
    room.close()
    assert await asyncio.wait_for(closed, 1) == 0


async def test_replies_may_use_what_the_other_lanes_leave_but_not_crowd_them_out() -> None:
    room = Room(10, reserved=3)
    assert await room.reserve(8, replies=True) == 8  # nothing else held: replies take more than their share
    assert room.free(replies=False) == 2
    room.release(8, replies=True)
    assert await room.reserve(3, replies=True) == 3  # a reply read in progress
    assert room.free(replies=False) == 7  # comes out of the reply share, not the others'
