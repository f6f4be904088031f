"""Redis time per job in each step of a job's life, on the scripts alone (no worker, no SMSC): enqueue N jobs
(admitted for the benchmarks' system), then in batches of 64 read them, claim them (begin.lua), record them
submitted with one message id each (settle.lua) and apply a delivered receipt to each (the MGET of the
receipt's candidate ids, then receipts.lua). Prints the Redis microseconds per job of each step from INFO
commandstats (EVALSHA includes the commands its scripts call), so two checkouts can be compared on what the
scripts cost Redis, apart from the scheduling noise of a full run (`bench/throughput.py`).

    python bench/lua_cost.py [--jobs 12000] [--phones 0] [--kind filing_reminder]

--phones 1000 cycles the jobs over 1,000 phones (a phone's recent-messages list then grows and is trimmed);
0 gives every job its own phone.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from redis.asyncio import Redis

from taxsms.dispatcher.admission import settlement
from taxsms.queue.jobs import State, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer
from taxsms.queue.store import DispatchRules, JobStore, ReceiptUpdate

from common import enqueue, job_lines

BATCH = 64
STEPS = ("read", "begin", "settle", "receipt")
TIMED = ("cmdstat_evalsha", "cmdstat_mget", "cmdstat_xreadgroup")  # the steps' own calls, nothing else


async def redis_usec(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(int(stats[name]["usec"]) for name in TIMED if name in stats)


async def measure(jobs: int, phones: int, kind: str) -> dict[str, float]:
    """Redis µs per job of each step, for `jobs` jobs through one private redis-server."""
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        redis = Redis.from_url(server.url)
        try:
            keys = Keys("bench", 1)
            store = JobStore(redis, keys, rules=DispatchRules(unknown_subscription="send", daily_caps={}))
            await store.ensure_group()
            await enqueue(redis, keys, job_lines(jobs, "lua", kind=kind, phones=phones))
            spent = dict.fromkeys(STEPS, 0)
            done = message_id = 0
            while done < jobs:
                before = await redis_usec(redis)
                entries = await store.read("c", store.streams, BATCH, None)
                if not entries:
                    break
                after_read = await redis_usec(redis)
                pairs = [(entry, parse_job(entry.payload)) for entry in entries]
                await store.begin(pairs)
                after_begin = await redis_usec(redis)
                outcomes, ids = [], []
                for entry, job in pairs:
                    message_id += 1
                    ids.append(f"m{message_id}")  # not a number: read one way only, so never ambiguous
                    outcomes.append(settlement(entry, job, State.SUBMITTED, message_ids=[ids[-1]]))
                await store.settle(outcomes)
                after_settle = await redis_usec(redis)
                await store.apply_receipts([ReceiptUpdate(i, "delivered", "DELIVRD", "000") for i in ids])
                after_receipt = await redis_usec(redis)
                for step, (start, end) in zip(
                    STEPS,
                    ((before, after_read), (after_read, after_begin), (after_begin, after_settle),
                     (after_settle, after_receipt)),
                    strict=True,
                ):  # fmt: skip
                    spent[step] += end - start
                done += len(entries)
            delivered = (await store.counts())["delivered"]
            if delivered != done:
                raise RuntimeError(f"{delivered} of {done} jobs delivered: the steps did not all apply")
            return {step: usec / done for step, usec in spent.items()}
        finally:
            await redis.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=12_000)
    parser.add_argument("--phones", type=int, default=0, help="cycle over this many phones (0: one each)")
    parser.add_argument("--kind", default="filing_reminder")
    args = parser.parse_args()
    per_job = await measure(args.jobs, args.phones, args.kind)
    steps = "  ".join(f"{step} {us:.1f}" for step, us in per_job.items())
    print(f"{args.jobs} jobs, Redis µs per job: {steps}  (total {sum(per_job.values()):.1f})")


if __name__ == "__main__":
    asyncio.run(main())
