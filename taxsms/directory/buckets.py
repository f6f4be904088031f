"""Reading many fields of many bucket hashes in one script call per shard (not one command per field)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from taxsms.queue.store import ScriptCall, run_scripts

CHUNK = 5000  # fields per script call
CALLS_PER_PIPELINE = 8

# KEYS: bucket hashes; ARGV: the field to read from each. Returns each value, '' where there is none.
_HGET_EACH = """
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGET', KEYS[i], ARGV[i]) or '' end
return out
"""


class BucketReader:
    """HGET (key, field) pairs, grouped by the keys' hash tag (one slot each), in one pipeline."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(_HGET_EACH)

    async def get(self, pairs: Sequence[tuple[str, str]]) -> list[bytes | None]:
        groups: dict[str, list[int]] = {}
        for i, (key, _) in enumerate(pairs):
            groups.setdefault(key[: key.index("}") + 1], []).append(i)
        calls: list[ScriptCall] = []
        order: list[list[int]] = []
        for members in groups.values():
            for start in range(0, len(members), CHUNK):
                part = members[start : start + CHUNK]
                calls.append((self._script, [pairs[i][0] for i in part], [pairs[i][1] for i in part]))
                order.append(part)
        values: list[bytes | None] = [None] * len(pairs)
        for first in range(0, len(calls), CALLS_PER_PIPELINE):  # a bounded write per round trip
            results = await run_scripts(self.redis, calls[first : first + CALLS_PER_PIPELINE])
            for part, result in zip(order[first : first + CALLS_PER_PIPELINE], results, strict=True):
                for i, value in zip(part, result, strict=True):
                    values[i] = value or None
        return values
