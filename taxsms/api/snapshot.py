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

SENT_STATES = (State.SUBMITTED, State.DELIVERED, State.UNDELIVERED)  # accepted by the SMSC


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
        }


async def take_snapshot(redis: Redis, keys: Keys, windows: WindowPolicy) -> Snapshot:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.counts)
        pipe.hgetall(keys.stats)
        for lane in Lane:
            pipe.xlen(keys.lane(lane))
            pipe.xinfo_groups(keys.lane(lane))
            pipe.zcard(keys.delayed(lane))
        replies = await pipe.execute(raise_on_error=False)
    counts = {state.value: 0 for state in State}
    for name, value in _mapping(replies[0]).items():
        counts[name] = int(value)
    stats = {name: int(value) for name, value in _mapping(replies[1]).items()}
    lanes = []
    for i, lane in enumerate(Lane):
        length, groups, delayed = replies[2 + 3 * i : 5 + 3 * i]
        length = length if isinstance(length, int) else 0
        depth, pending = length, 0
        for group in groups if isinstance(groups, list) else ():
            if _text(group.get("name")) == CONSUMER_GROUP:
                pending = int(group.get("pending") or 0)
                lag = group.get("lag")
                depth = (int(lag) if lag is not None else length) + pending
        lanes.append(LaneDepth(int(lane), depth, pending, delayed if isinstance(delayed, int) else 0, length))
    now = time.time()
    open_now = {kind.value: window is None or window.is_open(now) for kind, window in windows.windows.items()}
    sent = sum(counts[s.value] for s in SENT_STATES)
    return Snapshot(now, counts, stats, lanes, open_now, sent)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _mapping(reply: object) -> dict[str, str]:
    if not isinstance(reply, dict):
        return {}
    return {_text(k): _text(v) for k, v in reply.items()}
