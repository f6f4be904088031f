"""Shared fixtures and helpers: a real redis-server for the session, a local Redis Cluster per module, waits,
what the SMSC simulator accepted, the registered system the tests send as."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import uvloop
from redis.asyncio import Redis

from taxsms.channels.simulator import SmscSimulator
from taxsms.channels.smpp import decode_short_message, parse_concat_udh
from taxsms.governance.admission import Gate
from taxsms.governance.policy import UPSTREAM_KINDS, Principal, PrincipalKind
from taxsms.governance.registry import PrincipalBook
from taxsms.governance.units import UnitTree, load_units, save_units
from taxsms.queue.cluster import LocalCluster
from taxsms.queue.connect import RETRYABLE, AnyRedis, connect
from taxsms.queue.intake import enqueue_lines
from taxsms.queue.jobs import Job, JobError, Kind, parse_job
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
    return Keys(f"t{next(_prefixes)}", 1)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that kill and restart it."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A Redis Cluster of the module's own (3 masters + 3 replicas of local redis-server)."""
    with LocalCluster(tmp_path_factory.mktemp(f"cluster-{request.module.__name__}")) as local:
        yield local


@pytest.fixture
async def cluster_client(cluster: LocalCluster) -> AsyncIterator[AnyRedis]:
    redis = connect(cluster.url)
    yield redis
    await redis.aclose()


def texts_to(sim: SmscSimulator, phone: str) -> list[str]:
    """The UCS2 messages the simulator accepted for the national number `phone` (kept with keep_accepted), each
    message's parts joined."""
    out, parts = [], []
    for _, destination, data in sim.accepted_log:
        if destination != "86" + phone:
            continue
        concat, payload = parse_concat_udh(data) if data[:3] == b"\x05\x00\x03" else (None, data)
        parts.append(decode_short_message(payload, 8))
        if concat is None or concat.seqnum == concat.total:
            out.append("".join(parts))
            parts = []
    return out


async def wait_until(predicate: Callable[[], object], timeout: float = 30.0, *, every: float = 0.05) -> float:
    """Poll `predicate` (sync or async) every `every` s until it is true; fail after `timeout` seconds.

    Returns the time.monotonic() at which it held (for tests that measure the time between two events).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
        except RETRYABLE:  # the test's own reads while Redis restarts
            result = False
        if result:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(every)


#: The tree sender() loads when none is: one province signing 【某市税务局】, as the tests' texts do.
SENDER_UNITS = UnitTree.from_toml('[[unit]]\nid = "city-01"\nname = "某市税务局"\nlevel = "province"\n')


@dataclass(frozen=True, slots=True)
class Sender:
    """A registered upstream system the tests send as: every job reaches the queue admitted for it (its
    principal, unit and signature), as on every real path; the worker refuses jobs that name none."""

    principal: Principal
    gate: Gate

    async def admit(self, jobs: list[Job]) -> list[Job | JobError]:
        """The admission hook of enqueue_lines: each job admitted for the system, or the refusal (a job
        without a recipient's unit gets the system's own)."""
        await self.gate.prepare(jobs)
        verdicts: list[Job | JobError] = []
        for job in jobs:
            if not job.recipient_unit and job.kind is not Kind.REPLY:
                job = msgspec.structs.replace(job, recipient_unit=self.principal.unit)
            try:
                verdicts.append(self.gate.admit(job, self.principal))
            except JobError as error:
                verdicts.append(error)
        return verdicts

    async def enqueue(self, lines: Iterable[bytes | str]) -> tuple[int, int]:
        """enqueue_lines for the system: (added, dead-lettered)."""
        return await enqueue_lines(self.gate.redis, self.gate.keys, lines, admit=self.admit)

    async def jobs(self, items: Iterable[Job | bytes | str]) -> list[Job]:
        """`items` (jobs or JSON lines) admitted, for JobStore.enqueue; AssertionError if one is refused."""
        verdicts = await self.admit([item if isinstance(item, Job) else parse_job(item) for item in items])
        refused = [str(v) for v in verdicts if isinstance(v, JobError)]
        assert not refused, f"the test's jobs are refused: {refused}"
        return verdicts  # type: ignore[return-value]


async def sender(redis: AnyRedis, keys: Keys, unit: str = "") -> Sender:
    """The tests' upstream system (filing reminders, overdue notices, replies) registered for `unit` (default:
    the root) of the unit tree in the store, which is SENDER_UNITS if none is loaded yet."""
    tree = await load_units(redis, keys)  # type: ignore[arg-type]
    if not len(tree):
        tree = SENDER_UNITS
        await save_units(redis, keys, tree)  # type: ignore[arg-type]
    unit = unit or tree.root
    principal = Principal(PrincipalKind.SYSTEM, f"tests-{unit}", unit, UPSTREAM_KINDS)
    await PrincipalBook(redis, keys).register(principal, "the tests' upstream system")  # type: ignore[arg-type]
    return Sender(principal, Gate(redis, keys, max_age=0))  # type: ignore[arg-type]


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """Run the async tests on uvloop, the loop production uses."""
    return {"uvloop": uvloop.new_event_loop}
