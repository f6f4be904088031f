"""Filing status: the collection system's filing events (taxpayer id, tax type, period, filed at).

A filing is marked in the hash `Keys.filed('VAT:2026-11')` of the taxpayer's shard (what planning reads)
and of each of its phones' shards (what the claim script reads, so a reminder planned before the taxpayer
filed ends `suppressed`, "filed"). On a single Redis those are one key. CSV rows:
`taxpayer_id,tax,period,filed_at` (filed_at ISO 8601, China time without an offset; empty: now).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from redis.asyncio import Redis

from taxsms.directory.deadlines import Filing, PeriodError
from taxsms.directory.directory import Directory
from taxsms.directory.ids import TaxpayerIdError, validate_taxpayer_id
from taxsms.directory.imports import CHUNK, ImportReport
from taxsms.queue.jobs import CHINA
from taxsms.queue.keys import Keys

HEADER = ("taxpayer_id", "tax", "period", "filed_at")


@dataclass(frozen=True, slots=True)
class FilingEvent:
    taxpayer_id: str
    filing: Filing
    filed_at: float


def parse_time(text: str, default: float) -> float:
    """ISO 8601 (no offset: China time) -> timestamp; '' -> default."""
    if not text.strip():
        return default
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"filed_at {text!r}: expected an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=CHINA)).timestamp()


class FilingBook:
    """Records filings and answers who has filed."""

    def __init__(self, redis: Redis, keys: Keys, directory: Directory) -> None:
        self.redis = redis
        self.keys = keys
        self.directory = directory

    async def record(self, events: Sequence[FilingEvent]) -> int:
        """Mark the filings; return how many of their taxpayers are not in the directory (marked anyway)."""
        taxpayers = await self.directory.get_many(event.taxpayer_id for event in events)
        marks: dict[str, dict[str, str]] = {}  # filed hash -> taxpayer id -> filed at
        for event in events:
            record = taxpayers.get(event.taxpayer_id)
            shards = {self.keys.taxpayer_shard(event.taxpayer_id)}
            shards.update(self.keys.phone_shard(phone) for phone in (record.phones if record else ()))
            for index in shards:
                key = self.keys.shard(index).filed(str(event.filing))
                marks.setdefault(key, {})[event.taxpayer_id] = f"{event.filed_at:.0f}"
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, mapping in marks.items():
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            await pipe.execute()
        return sum(1 for event in events if event.taxpayer_id not in taxpayers)

    async def filed(self, filing: Filing, taxpayer_ids: Iterable[str]) -> set[str]:
        """Which of `taxpayer_ids` have filed `filing` (one HMGET per shard)."""
        by_shard: dict[int, list[str]] = {}
        for tid in taxpayer_ids:
            by_shard.setdefault(self.keys.taxpayer_shard(tid), []).append(tid)
        async with self.redis.pipeline(transaction=False) as pipe:
            for index, ids in by_shard.items():
                pipe.hmget(self.keys.shard(index).filed(str(filing)), ids)
            answers = await pipe.execute()
        return {tid for ids, values in zip(by_shard.values(), answers, strict=True)
                for tid, value in zip(ids, values, strict=True) if value is not None}  # fmt: skip

    async def import_csv(
        self, path: str | Path, *, clock: Callable[[], float] = time.time, chunk: int = CHUNK
    ) -> tuple[ImportReport, int]:
        """Import filing events; (report, how many taxpayers were not in the directory)."""
        report, unknown, batch = ImportReport(kind="filings"), 0, []
        now = clock()
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            for row in reader:
                cells = [cell.strip() for cell in row]
                if not any(cells) or (reader.line_num == 1 and tuple(c.lower() for c in cells[:4]) == HEADER):
                    continue
                report.rows += 1
                if len(cells) < 3:
                    report.error(reader.line_num, f"expected {','.join(HEADER)}, got {len(cells)} columns")
                    continue
                try:
                    tid = validate_taxpayer_id(cells[0])
                    filing = Filing.of(cells[1], cells[2])
                    at = parse_time(cells[3] if len(cells) > 3 else "", now)
                except (TaxpayerIdError, PeriodError, ValueError) as error:
                    report.error(reader.line_num, str(error))
                    continue
                batch.append(FilingEvent(tid, filing, at))
                if len(batch) >= chunk:
                    unknown += await self.record(batch)
                    report.stored += len(batch)
                    batch = []
        if batch:
            unknown += await self.record(batch)
            report.stored += len(batch)
        return report, unknown
