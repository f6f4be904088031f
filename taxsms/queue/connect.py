"""Redis clients from a URL: one Redis (`redis://`, `rediss://`, `unix://`) or a Redis Cluster
(`redis+cluster://host:port`, `rediss+cluster://...`, any node as the entry point)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from taxsms.queue.keys import DEFAULT_PREFIX, Keys

CLUSTER_SHARDS = 16  # job-keyspace shards on a cluster: 16 hash tags spread over the masters' slots
AnyRedis = Redis | RedisCluster


def connect(url: str, **options: Any) -> AnyRedis:
    """A client for `url`; `+cluster` in the scheme gives a cluster client, anything else one Redis."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.endswith("+cluster"):
        return RedisCluster.from_url(f"{scheme.removesuffix('+cluster')}://{rest}", **options)
    return Redis.from_url(url, **options)


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
