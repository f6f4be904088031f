"""Redis clients from a URL: one Redis (`redis://`, `rediss://`, `unix://`) or a Redis Cluster
(`redis+cluster://host:port`, `rediss+cluster://...`, any node as the entry point)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import ClusterDownError, SlotNotCoveredError, TryAgainError
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


class _ClusterConnection(Connection):
    """A write on a connection that the cluster client closed under it (it does, when it reloads the
    topology after a failover) raises AttributeError in redis-py 8.1 (cf. redis/redis-py#4287); say
    ConnectionError instead, which the cluster client and taxsms both retry."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except (AttributeError, TypeError) as exc:
            if self._writer is not None:
                raise
            raise RedisConnectionError(f"connection closed while writing ({exc})") from exc


def connect(url: str, **options: Any) -> AnyRedis:
    """A client for `url`; `+cluster` in the scheme gives a cluster client, anything else one Redis."""
    scheme, sep, rest = url.partition("://")
    if not (sep and scheme.endswith("+cluster")):
        return Redis.from_url(url, **options)
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
