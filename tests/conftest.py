"""Shared fixtures: a real redis-server started for the test session on a free port."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import uvloop
from redis.asyncio import Redis

from taxsms.queue.connect import RETRYABLE
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server (AOF on) for the whole test session."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def keys() -> Keys:
    """A fresh key prefix per test, so tests never see each other's data."""
    return Keys(f"t{next(_prefixes)}")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that kill and restart it."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


async def wait_until(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll `predicate` (sync or async) until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
        except RETRYABLE:  # the test's own reads while Redis restarts
            result = False
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """Run the async tests on uvloop, the loop production uses."""
    return {"uvloop": uvloop.new_event_loop}
