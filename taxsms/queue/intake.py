"""Intake: validate jobs and put them on the intake stream once each; refuse bad ones to dead letters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

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
    admit: Callable[[list[Job]], Awaitable[list[Job | JobError]]],
) -> tuple[int, int]:
    """Enqueue JSON lines (one job each; blank lines ignored). Return (added, dead-lettered).

    `on_refused(line_number, error)` hears about each line refused to the dead-letter stream. `admit`: the
    admission policy for the sender (taxsms.governance.admission), given a batch of parsed jobs and returning,
    for each, the job as it may go out or the JobError refusing it (dead-lettered like an invalid job).

    Duplicates of a job id already enqueued are neither added nor dead-lettered: the id is the idempotency
    key, so re-running an upstream export is harmless.
    """
    store = JobStore(redis, keys)
    added = refused = 0
    batch: list[tuple[int, bytes, Job]] = []

    async def refuse(number: int, raw: bytes, error: JobError) -> None:
        nonlocal refused
        await store.dead_letter_raw(raw.strip(), error)
        refused += 1
        if on_refused is not None:
            on_refused(number, error)

    async def flush() -> int:
        verdicts = await admit([job for _, _, job in batch])
        jobs = []
        for (number, raw, _), verdict in zip(batch, verdicts, strict=True):
            if isinstance(verdict, JobError):
                await refuse(number, raw, verdict)
            else:
                jobs.append(verdict)
        batch.clear()
        return await store.enqueue(jobs) if jobs else 0

    for number, line in enumerate(lines, 1):
        raw = line.encode() if isinstance(line, str) else line
        if not raw.strip():
            continue
        try:
            batch.append((number, raw, parse_job(raw)))
        except JobError as error:
            await refuse(number, raw, error)
            continue
        if len(batch) >= BATCH:
            added += await flush()
    if batch:
        added += await flush()
    return added, refused
