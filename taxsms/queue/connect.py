"""Redis clients from a URL: one Redis (`redis://`, `rediss://`, `unix://`) or a Redis Cluster
(`redis+cluster://host:port`, `rediss+cluster://...`, any node as the entry point)."""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ClusterDownError, DataError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from taxsms.queue.keys import DEFAULT_PREFIX, Keys

CLUSTER_SHARDS = 16  # job-keyspace shards on a cluster: 16 hash tags spread over the masters' slots
AnyRedis = Redis | RedisCluster

#: Redis away, or a cluster between two topologies (a failover, a slot migration): worth retrying.
RETRYABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
)


class HiredisPacking:
    """Pack commands with hiredis (C) instead of redis-py's Python packer, which redis.asyncio always uses.

    The worker's pipelined script calls carry hundreds of arguments; packing them in Python was ~20 % of its
    CPU per message. The bytes are the same: hiredis writes str as UTF-8, numbers as redis-py does.
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # "CLIENT SETNAME" and the like come as one string
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:  # hiredis takes str, int, float and bytes (memoryview too), not bytearray
            pass
        try:
            return [hiredis.pack_command(tuple(bytes(a) if isinstance(a, bytearray) else a for a in args))]
        except TypeError as exc:
            raise DataError(str(exc)) from exc

    def pack_commands(self, commands: Any) -> list[bytes]:
        return [b"".join(self.pack_command(*command)[0] for command in commands)]


class HiredisConnection(HiredisPacking, Connection):
    """A TCP connection packing with hiredis."""


class HiredisSSLConnection(HiredisPacking, SSLConnection):
    """A TLS connection packing with hiredis."""


class HiredisUnixConnection(HiredisPacking, UnixDomainSocketConnection):
    """A Unix-socket connection packing with hiredis."""


#: redis-py's connection class for a URL's scheme -> the same with hiredis packing.
HIREDIS_CLASSES: dict[type, type] = {
    Connection: HiredisConnection,
    SSLConnection: HiredisSSLConnection,
    UnixDomainSocketConnection: HiredisUnixConnection,
}


class _ClusterConnection(HiredisPacking, Connection):
    """A write on a connection that the cluster client closed under it (it does, when it reloads the
    topology after a failover) raises AttributeError in redis-py 8.1 (cf. redis/redis-py#4287), or uvloop's
    RuntimeError "unable to perform operation on <TCPTransport closed=True ...>" when the transport was closed
    but the writer kept; say ConnectionError instead, which the cluster client and taxsms both retry."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except (AttributeError, TypeError, RuntimeError) as exc:
            if self._writer is not None and not self._writer.transport.is_closing():
                raise
            raise RedisConnectionError(f"connection closed while writing ({exc})") from exc


def connect(url: str, **options: Any) -> AnyRedis:
    """A client for `url`; `+cluster` in the scheme gives a cluster client, anything else one Redis."""
    scheme, sep, rest = url.partition("://")
    if not (sep and scheme.endswith("+cluster")):
        client = Redis.from_url(url, **options)
        pool = client.connection_pool  # connections are made on first use: swap the class before that
        pool.connection_class = HIREDIS_CLASSES.get(pool.connection_class, pool.connection_class)
        return client
    cluster = RedisCluster.from_url(f"{scheme.removesuffix('+cluster')}://{rest}", **options)
    if not url.startswith("rediss"):  # every node, also those found later, connects with _ClusterConnection
        cluster.nodes_manager.connection_kwargs["connection_class"] = _ClusterConnection
        for node in cluster.nodes_manager.startup_nodes.values():
            node.connection_class = _ClusterConnection
    return cluster


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, RedisCluster)


def keys_for(redis: Any, prefix: str = DEFAULT_PREFIX) -> Keys:
    """The key names for `redis`: one shard on a single Redis, CLUSTER_SHARDS on a cluster."""
    return Keys(prefix, CLUSTER_SHARDS if is_cluster(redis) else 1)


async def uptime_s(redis: AnyRedis) -> int:
    """Seconds since the Redis server started; on a cluster, of the master that started last."""
    if isinstance(redis, RedisCluster):
        infos = await redis.info("server", target_nodes=RedisCluster.PRIMARIES)
        return min(int(info["uptime_in_seconds"]) for info in infos.values())
    return int((await redis.info("server"))["uptime_in_seconds"])
