"""Poison jobs: each is refused at intake or dead-lettered by the step that meets it; the worker keeps sending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from conftest import sender, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from test_api_support import UNITS, running_api

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.dispatcher.admission import Admission, Held, Raw, Ready, Refused
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.dispatcher.worker import Worker, WorkerConfig
from taxsms.governance.admission import Gate
from taxsms.governance.policy import Principal, PrincipalKind, Registry
from taxsms.governance.registry import PrincipalBook
from taxsms.governance.units import UnitTree, save_units
from taxsms.queue.jobs import Kind, Lane, pack_job, parse_job
from taxsms.queue.keys import CONSUMER_GROUP, Keys
from taxsms.queue.store import JobStore, StreamEntry
from taxsms.templates.catalog import TemplateCatalog
from taxsms.templates.review import ContentReview

TEXT = "【某市税务局】您本月增值税申报期限为15日，请及时申报。"


def good(i: int) -> dict[str, Any]:
    job = {"id": f"g{i}", "kind": "filing_reminder", "to": f"139{i:08d}", "text": TEXT, "recipient_unit": "city-01"}
    return job | {"priority": 3}  # the bulk lane


def templated(job_id: str, size: int, *, every: bool = False, char: str = "税") -> dict[str, Any]:
    """A reminder whose `name` (or every variable) is `size` characters."""
    value = char * size
    variables = {"name": value, "period": "2026-11", "tax": "增值税", "deadline": "15日"}
    if every:
        variables = dict.fromkeys(variables, value)
    return {"id": job_id, "kind": "filing_reminder", "to": "13900000001", "template": "filing_reminder",
            "vars": variables, "unit": "city-01", "recipient_unit": "city-01"}  # fmt: skip


def deep_json(job_id: str, depth: int = 1000) -> bytes:
    return msgspec.json.encode({**good(0), "id": job_id})[:-1] + b',"meta":{"a":' + b"[" * depth + b"]" * depth + b"}}"


def deep_msgpack(job_id: str, depth: int = 5000) -> bytes:
    """A packed job whose meta is a list nested `depth` deep (one byte a level: ~5 KB)."""
    head = msgspec.msgpack.encode({**good(0), "id": job_id})
    fields = bytes([head[0] + 1]) + head[1:]  # one more field in the map: meta
    return fields + msgspec.msgpack.encode("meta") + b"\x81" + msgspec.msgpack.encode("a") + b"\x91" * depth + b"\xc0"


@pytest.fixture
async def simulator() -> AsyncIterator[SmscSimulator]:
    sim = SmscSimulator(SimulatorConfig(dlr_ms=20))
    await sim.start()
    yield sim
    await sim.stop()


def worker_for(redis_url: str, keys: Keys, sim: SmscSimulator, **overrides: Any) -> Worker:
    config = WorkerConfig(
        redis_url=redis_url, prefix=keys.prefix, smsc_port=sim.port, system_id=sim.config.system_id,
        password=sim.config.password or "", block_ms=50, send_window="00:00-24:00", unknown_subscription="send",
        daily_caps="", **overrides,
    )  # fmt: skip
    return Worker(config)


async def dead_letters(redis: Redis, keys: Keys) -> dict[str, tuple[str, str]]:
    """Job id -> (field, reason) of every dead letter."""
    return {
        f[b"id"].decode(): (f[b"field"].decode(), f[b"reason"].decode())
        for _, f in await redis.xrange(keys.dead_letters)
    }


async def test_poison_through_the_api_is_refused_or_dead_lettered_and_the_worker_keeps_sending(
    redis: Redis, redis_url: str, keys: Keys, simulator: SmscSimulator
) -> None:
    async with running_api(redis, keys) as api:
        oversized = await api.post_jobs(templated("huge-var", 20_000))  # would render to > 255 parts
        assert oversized.status == 422 and "bytes, more than" in (await oversized.json())["detail"]
        long_var = await api.post_jobs(templated("long-var", 2_000, char="a"))
        assert long_var.status == 422 and "vars: name: 2000 characters" in (await long_var.json())["detail"]
        deep = await api.post_jobs(deep_json("deep"))
        assert deep.status == 422 and (await deep.json())["errors"][0]["field"] == "job"
        renders_too_long = await api.post_jobs({**templated("long-render", 900, every=True), "unit": "city-01"})
        assert renders_too_long.status == 202  # each variable fits; what they render to is the worker's to see
        assert (await api.post_jobs([good(i) for i in range(50)])).status == 200
        long_render = api.stored("long-render")  # API job ids are kept per token
    await run_until_settled(redis, keys, simulator, sent=50, dead=4)
    dead = await dead_letters(redis, keys)
    assert dead[long_render][0] == "vars" and "more than 1000" in dead[long_render][1]
    assert simulator.stats.accepted == 50


async def run_until_settled(
    redis: Redis, keys: Keys, simulator: SmscSimulator, *, sent: int, dead: int, **overrides: Any
) -> None:
    """Run a worker until the SMSC accepted `sent` messages and `dead` jobs are dead-lettered; it must not stop."""
    kwargs = redis.connection_pool.connection_kwargs
    worker = worker_for(f"redis://{kwargs['host']}:{kwargs['port']}/0", keys, simulator, **overrides)
    store = JobStore(redis, keys)
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: simulator.stats.accepted >= sent)
        await wait_until(lambda: dead_lettered(store, dead))
        assert not task.done(), "the worker stopped"
    finally:
        worker.stop()
        await task


async def dead_lettered(store: JobStore, n: int) -> bool:
    return (await store.counts())["dead_lettered"] >= n


async def test_poison_through_raw_intake_and_in_a_lane_is_dead_lettered_per_entry(
    redis: Redis, keys: Keys, simulator: SmscSimulator
) -> None:
    store = JobStore(redis, keys)
    await store.ensure_group()
    await save_units(redis, keys, UNITS)  # raw intake entries name a registered system (the admission policy)
    system = Principal(PrincipalKind.SYSTEM, "poison", "city-01", frozenset({Kind.FILING_REMINDER}))
    await PrincipalBook(redis, keys).register(system)
    signed = {"principal": "system:poison"}
    poison = {
        "huge-var": msgspec.json.encode(templated("huge-var", 20_000)),
        "long-render": msgspec.json.encode(templated("long-render", 900, every=True) | signed),
        "deep-json": deep_json("deep-json"),
        "deep-pack": deep_msgpack("deep-pack"),
    }
    assert 4_900 < len(poison["deep-pack"]) < 5_200
    for i in range(20):
        await redis.xadd(keys.intake, {"id": f"g{i}", "job": msgspec.json.encode(good(i) | signed)})
    for job_id, payload in poison.items():
        await redis.xadd(keys.intake, {"id": job_id, "job": payload})
    # Straight into a lane, past intake: the worker must survive what enqueue would have refused.
    await redis.xadd(keys.lane(Lane.BULK), {"job": deep_msgpack("lane-deep-pack")})
    await redis.xadd(keys.lane(Lane.BULK), {"job": pack_job(parse_job(msgspec.json.encode(good(99) | signed)))})
    await run_until_settled(redis, keys, simulator, sent=21, dead=5)
    dead = await dead_letters(redis, keys)
    assert dead["huge-var"][0] == "job" and "bytes" in dead["huge-var"][1]  # over MAX_JOB_BYTES: never decoded
    assert dead["long-render"][0] == "vars"
    assert dead["deep-json"] == ("job", "nested too deep to decode")
    assert dead["deep-pack"] == ("job", "nested too deep to decode")
    assert dead[""] == ("job", "nested too deep to decode")  # the lane entry's id is inside the undecodable job
    assert simulator.stats.accepted == 21
    assert await redis.xpending(keys.lane(Lane.BULK), CONSUMER_GROUP) == {
        "pending": 0, "min": None, "max": None, "consumers": []
    }  # fmt: skip


async def test_an_entry_delivered_too_often_is_dead_lettered_on_sight(
    redis: Redis, keys: Keys, simulator: SmscSimulator
) -> None:
    """One that killed worker after worker (here: delivered to six dead consumers) is not admitted again."""
    store = JobStore(redis, keys)
    await store.ensure_group()
    await save_units(redis, keys, UNITS)
    send = await sender(redis, keys, "city-01")
    await store.enqueue(await send.jobs([msgspec.json.encode(good(i)) for i in range(3)]))
    stream = keys.lane(Lane.BULK)
    entries = await redis.xreadgroup(CONSUMER_GROUP, "dead-0", {stream: ">"}, count=1)
    worn = entries[0][1][0][0]
    for n in range(1, 6):
        await redis.xclaim(stream, CONSUMER_GROUP, f"dead-{n}", 0, [worn])  # each claim is one more delivery
    assert (await store.deliveries([StreamEntry(stream, worn.decode(), "", b"")])) == [6]
    await run_until_settled(redis, keys, simulator, sent=2, dead=1, claim_idle_s=0.3)
    dead = await dead_letters(redis, keys)
    assert list(dead.values()) == [("job", "delivered 7 times without an outcome (admitting it stopped workers)")]
    assert simulator.stats.accepted == 2


# -- admission never raises, whatever the payload ------------------------------------------------------------

_CATALOG = TemplateCatalog.from_dir()
_GATE = Gate.fixed(Registry(UnitTree.from_file(), ContentReview.from_file()))  # the admission policy's snapshot
_ADMISSION = Admission(lambda: _CATALOG, WindowPolicy.build("00:00-24:00"), "intake", _GATE)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
_jobs = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=10), "kind": st.sampled_from(["notice", "reply", "filing_reminder", "x"]),
     "to": st.sampled_from(["13900000001", "123", ""])},
    optional={"text": st.text(max_size=40) | st.just(TEXT) | st.just(TEXT * 60), "template": st.sampled_from(
        ["filing_reminder", "notice_policy", "nope", ""]), "vars": st.dictionaries(st.sampled_from(
        ["name", "period", "tax", "deadline", "title", "x"]), st.text(max_size=600) | st.integers(-(2**63), 2**63 - 1)),
        "unit": st.sampled_from(["某市税务局", "", "x" * 40]), "meta": _json, "priority": st.integers(-1, 5),
        "expires_at": st.sampled_from(["2020-01-01T00:00:00", "2999-01-01T00:00:00", "garbage"])},
)  # fmt: skip
_payloads = (
    st.binary(max_size=300)
    | _jobs.map(msgspec.json.encode)
    | _jobs.map(msgspec.msgpack.encode)
    | st.integers(1, 3000).map(lambda depth: deep_msgpack("d", depth))
    | st.integers(1, 3000).map(lambda depth: deep_json("d", depth))
)


@given(payload=_payloads, stream=st.sampled_from(["intake", "lane"]))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_admission_gives_every_payload_a_verdict_and_never_raises(payload: bytes, stream: str) -> None:
    verdict = _ADMISSION.decide(StreamEntry(stream, "1-0", "j", payload), now=1_800_000_000.0)
    assert isinstance(verdict, Refused | Raw | Held | Ready)
    if isinstance(verdict, Refused):
        assert verdict.error.field and verdict.error.reason
    if isinstance(verdict, Ready):
        assert 1 <= len(verdict.message.parts) <= 255
