"""Clients from a URL pack commands with hiredis: the same bytes as redis-py's own packer, on every scheme."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from taxsms.queue.connect import HiredisConnection, connect

ARGS = st.lists(
    st.one_of(st.text(), st.binary(), st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
    max_size=40,
)


@given(ARGS)
def test_hiredis_packing_writes_the_bytes_redis_py_writes(args: list[object]) -> None:
    command = ("EVALSHA", "a" * 40, *args)
    assert b"".join(HiredisConnection().pack_command(*command)) == b"".join(Connection().pack_command(*command))


def test_multi_word_commands_and_pipelines_pack_alike() -> None:
    ours, theirs = HiredisConnection(), Connection()
    commands = [("CLIENT SETNAME", "w1"), (b"CONFIG GET", "maxmemory"), ("XADD", "s", "*", "f", memoryview(b"\x00"))]
    assert b"".join(ours.pack_commands(commands)) == b"".join(theirs.pack_commands(commands))


def test_a_value_redis_cannot_take_is_a_data_error() -> None:
    with pytest.raises(DataError):
        HiredisConnection().pack_command("SET", "k", None)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6379/0", "unix:///tmp/redis.sock"])
def test_every_scheme_gets_hiredis_packing(url: str) -> None:
    assert connect(url).connection_pool.connection_class.__name__.startswith("Hiredis")


async def test_a_client_from_connect_round_trips_through_real_redis(redis_url: str) -> None:
    client = connect(redis_url)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.set("connect-test", "纳税人")
        pipe.hset("connect-test-h", mapping={"a": 1.5, "b": b"\x00\xff"})
        pipe.get("connect-test")
        assert (await pipe.execute())[2] == "纳税人".encode()
        assert await client.hgetall("connect-test-h") == {b"a": b"1.5", b"b": b"\x00\xff"}
    finally:
        await client.aclose()
