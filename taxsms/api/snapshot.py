"""The live picture of the queue, for /metrics and the console dashboard: one Redis round trip.

Lane depth = entries not yet read by the dispatchers' group (lag) + entries read but not acked (pending);
a lane nobody has read yet counts its whole stream. Delayed = the lane's delayed set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from redis.asyncio import Redis

from taxsms.dispatcher.windows import WindowPolicy
from taxsms.queue.jobs import Lane, State
from taxsms.queue.keys import CONSUMER_GROUP, Keys
from taxsms.queue.store import state_counts, sum_hashes

SENT_STATES = (State.SUBMITTED, State.DELIVERED, State.UNDELIVERED, State.UNCONFIRMED)  # accepted by the SMSC


@dataclass(frozen=True, slots=True)
class LaneDepth:
    lane: int
    depth: int
    pending: int
    delayed: int
    length: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    counts: dict[str, int]
    stats: dict[str, int]
    lanes: list[LaneDepth]
    windows: dict[str, bool]  # kind -> window open now
    sent: int = field(default=0)  # jobs accepted by the SMSC so far
    #: What the bounded stores hold now (their caps are settings): dead letters, orphan receipts, and the
    #: submitted jobs waiting for a receipt.
    stored: dict[str, int] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        return {
            "at": self.at,
            "counts": self.counts,
            "stats": self.stats,
            "sent": self.sent,
            "lanes": [
                {"lane": x.lane, "depth": x.depth, "pending": x.pending, "delayed": x.delayed} for x in self.lanes
            ],
            "windows": self.windows,
            "stored": self.stored,
        }


async def take_snapshot(redis: Redis, keys: Keys, windows: WindowPolicy) -> Snapshot:
    counts = await state_counts(redis, keys)
    stats = await sum_hashes(redis, keys, lambda shard: shard.stats)
    async with redis.pipeline(transaction=False) as pipe:
        for shard in keys.every_shard():
            for lane in Lane:
                pipe.xlen(shard.lane(lane))
                pipe.xinfo_groups(shard.lane(lane))
                pipe.zcard(shard.delayed(lane))
        for shard in keys.every_shard():
            pipe.xlen(shard.dead_letters)
            pipe.hlen(shard.orphan_receipts)
            pipe.zcard(shard.receipt_deadlines)
        replies = await pipe.execute(raise_on_error=False)
    stored_replies, replies = replies[len(replies) - 3 * keys.shards :], replies[: len(replies) - 3 * keys.shards]
    stored = {
        name: sum(n for n in stored_replies[i::3] if isinstance(n, int))
        for i, name in enumerate(("dead_letters", "orphan_receipts", "awaiting_receipt"))
    }
    lanes = []
    for i, lane in enumerate(Lane):
        depth = pending = delayed = length = 0
        for base in range(3 * i, len(replies), 3 * len(Lane)):  # this lane in every shard
            part = _lane_depth(*replies[base : base + 3])
            depth, pending, delayed, length = depth + part[0], pending + part[1], delayed + part[2], length + part[3]
        lanes.append(LaneDepth(int(lane), depth, pending, delayed, length))
    now = time.time()
    open_now = {kind.value: window is None or window.status(now)[0] for kind, window in windows.windows.items()}
    sent = sum(counts[s.value] for s in SENT_STATES)
    return Snapshot(now, counts, stats, lanes, open_now, sent, stored)


def _lane_depth(length: object, groups: object, delayed: object) -> tuple[int, int, int, int]:
    """(depth, pending, delayed, length) of one lane stream from its XLEN, XINFO GROUPS and ZCARD replies."""
    length = length if isinstance(length, int) else 0
    depth, pending = length, 0
    for group in groups if isinstance(groups, list) else ():
        if _text(group.get("name")) == CONSUMER_GROUP:
            pending = int(group.get("pending") or 0)
            lag = group.get("lag")
            depth = (int(lag) if lag is not None else length) + pending
    return depth, pending, delayed if isinstance(delayed, int) else 0, length


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
