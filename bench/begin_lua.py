"""begin.lua's Redis time per claimed job (INFO commandstats): enqueue N notices to PHONES distinct phones, claim
them in batches of 64, print the script's microseconds per job. Run it on two checkouts to compare (e.g. before and
after the per-phone message index): `PYTHONPATH=. python bench/begin_lua.py` (PHONES=1000 for repeated phones).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from redis.asyncio import Redis

from taxsms.queue.jobs import Job, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.server import RedisServer
from taxsms.queue.store import JobStore

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
        jobs = [Job(f"j{n}", "notice", f"139{n % PHONES:08d}", "【省税务局】通知") for n in range(N)]
        for i in range(0, N, 1000):
            await store.enqueue(jobs[i : i + 1000])
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
