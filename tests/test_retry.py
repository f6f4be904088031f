"""The one retry helper: exponential back-off with jitter, reset on success, stoppable."""

from __future__ import annotations

import asyncio

import pytest

from taxsms.retry import Backoff, retry


class Sleeps:
    """An injected sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def test_delays_double_up_to_the_maximum_without_jitter() -> None:
    backoff = Backoff(0.5, 4.0, jitter=0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


@pytest.mark.parametrize("rand, factor", [(0.0, 0.5), (1.0, 1.5), (0.5, 1.0)])
def test_jitter_spreads_each_delay_within_its_band(rand: float, factor: float) -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.5, rand=lambda: rand)
    assert [backoff.next_delay() for _ in range(4)] == [factor * d for d in (1.0, 2.0, 4.0, 8.0)]


def test_real_jitter_differs_between_processes() -> None:
    delays = {Backoff(1.0, 1.0).next_delay() for _ in range(50)}
    assert len(delays) > 40 and all(0.5 <= d <= 1.5 for d in delays)


def test_bad_parameters_are_refused() -> None:
    for args, kwargs in [((0, 1), {}), ((2, 1), {}), ((1, 2), {"factor": 0.5}), ((1, 2), {"jitter": 1.0})]:
        with pytest.raises(ValueError):
            Backoff(*args, **kwargs)


async def test_retry_until_the_call_works_then_resets() -> None:
    sleeps, failures, calls = Sleeps(), [], []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionError("down")
        return "ok"

    backoff = Backoff(0.1, 0.3, jitter=0, sleep=sleeps)
    result = await retry(flaky, on=(ConnectionError,), backoff=backoff, on_failure=failures.append)
    assert result == "ok"
    assert sleeps.delays == [0.1, 0.2, 0.3]
    assert len(failures) == 3 and backoff.failures == 0


async def test_other_errors_are_not_retried() -> None:
    async def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await retry(broken, on=(ConnectionError,), backoff=Backoff(0.1, 1, sleep=Sleeps()))


async def test_a_stop_ends_the_wait_and_raises_the_last_error() -> None:
    stopping = asyncio.Event()

    async def down() -> None:
        raise ConnectionError("still down")

    task = asyncio.ensure_future(retry(down, on=(ConnectionError,), backoff=Backoff(60, 60), stopping=stopping))
    await asyncio.sleep(0)  # the first try failed; the task now waits 30-90 s
    assert not task.done()
    stopping.set()
    with pytest.raises(ConnectionError, match="still down"):
        await asyncio.wait_for(task, 1.0)


async def test_wait_returns_at_once_when_stopping() -> None:
    stopping = asyncio.Event()
    stopping.set()
    assert await asyncio.wait_for(Backoff(60, 60).wait(stopping), 1.0) is True
