"""begin.lua's Redis time per claimed job (INFO commandstats): enqueue N overdue notices (admitted for the
benchmarks' system, as every queued job is) to PHONES distinct phones, claim
them in batches of 64, print the script's microseconds per job. Run it on two checkouts to compare (e.g. before and
after the per-phone message index): `PYTHONPATH=. python bench/begin_lua.py` (PHONES=1000 for repeated phones).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from redis.asyncio import Redis

from taxsms.queue.jobs import parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer
from taxsms.queue.store import JobStore

from common import enqueue, job_lines

N, BATCH = 20_000, 64
PHONES = int(os.environ.get("PHONES", "50000"))


async def main() -> None:
    server = RedisServer(Path(tempfile.mkdtemp()))
    server.start()
    redis = Redis.from_url(server.url)
    try:
        keys = Keys("b", 1)
        store = JobStore(redis, keys)
        await store.ensure_group()
        await enqueue(redis, keys, job_lines(N, "j", kind="overdue_filing", text="通知", phones=PHONES))
        await redis.config_resetstat()
        done = 0
        while done < N:
            entries = await store.read("c", store.streams, BATCH, None)
            if not entries:
                break
            await store.begin([(e, parse_job(e.payload)) for e in entries])
            done += len(entries)
        stats = await redis.info("commandstats")
        evalsha = stats.get("cmdstat_evalsha", {})
        print(
            f"{done} jobs; begin.lua calls {evalsha.get('calls')}, {evalsha.get('usec_per_call')} us per call, "
            f"{evalsha.get('usec', 0) / done:.2f} us per job"
        )
    finally:
        await redis.aclose()
        server.stop()


asyncio.run(main())
