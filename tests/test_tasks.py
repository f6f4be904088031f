"""cancel_and_wait ends a task even when a cancellation is lost, as Python 3.11's wait_for loses one."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from taxsms.tasks import cancel_and_wait


async def test_a_task_that_loses_a_cancellation_is_cancelled_again() -> None:
    lost = 0

    async def stubborn() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:  # what wait_for does when its inner call finished meanwhile
                lost += 1
                if lost == 3:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, recancel_s=0.01), 5)
    assert task.cancelled() and lost == 3


async def test_its_error_is_raised() -> None:
    async def failing() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await cancel_and_wait(task)


async def test_a_sampler_of_redis_calls_ends(redis: Redis) -> None:
    """redis-py's default socket_timeout sends through wait_for: a cancel landing mid-call is often lost."""
    await redis.set("tasks:probe", 1)
    calls, recancelled = 0, 0

    async def sampler() -> None:
        nonlocal calls
        while True:
            await redis.get("tasks:probe")
            calls += 1
            await asyncio.sleep(0.001)

    for _ in range(30):
        task = asyncio.create_task(sampler())
        await asyncio.sleep(0.003)
        await asyncio.wait_for(cancel_and_wait(task), 5)
        recancelled += task.cancelling() > 1
    print(f"\n{recancelled} of 30 samplers needed more than one cancel")
    assert calls > 0
