"""Intake: validate jobs and put them on the intake stream once each; refuse bad ones to dead letters."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from redis.asyncio import Redis

from taxsms.queue.jobs import Job, JobError, parse_job
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore

BATCH = 5000


async def enqueue_lines(
    redis: Redis,
    keys: Keys,
    lines: Iterable[bytes | str],
    on_refused: Callable[[int, JobError], None] | None = None,
    *,
    admit: Callable[[Job], Job] | None = None,
) -> tuple[int, int]:
    """Enqueue JSON lines (one job each; blank lines ignored). Return (added, dead-lettered).

    `on_refused(line_number, error)` hears about each line refused to the dead-letter stream. `admit`: the
    admission policy for the sender (taxsms.governance.admission), returning the job as it may go out or
    raising JobError (dead-lettered like an invalid job).

    Duplicates of a job id already enqueued are neither added nor dead-lettered: the id is the idempotency
    key, so re-running an upstream export is harmless.
    """
    store = JobStore(redis, keys)
    added = refused = 0
    batch: list[Job] = []
    for number, line in enumerate(lines, 1):
        raw = line.encode() if isinstance(line, str) else line
        if not raw.strip():
            continue
        try:
            job = parse_job(raw)
            if admit is not None:
                job = admit(job)
        except JobError as error:
            await store.dead_letter_raw(raw.strip(), error)
            refused += 1
            if on_refused is not None:
                on_refused(number, error)
            continue
        batch.append(job)
        if len(batch) >= BATCH:
            added += await store.enqueue(batch)
            batch = []
    if batch:
        added += await store.enqueue(batch)
    return added, refused
