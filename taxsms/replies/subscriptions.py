"""Who wants the tax SMS service: subscribe / unsubscribe by SMS or by staff, and bulk CSV import.

Two places in Redis: `Keys.subscription_state` (hash phone -> '1' / '0', what the dispatcher's claim script
reads) and `Keys.subscription(phone)` (hash: state, source, at, and one `tp:<taxpayer id>` field per taxpayer
id the phone was registered for). Both are written together, in one pipeline or script.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from redis.asyncio import Redis

from taxsms.queue.jobs import JobError, normalise_mobile
from taxsms.queue.keys import Keys
from taxsms.queue.store import ScriptCall, run_scripts

IMPORT_CHUNK = 2000
MAX_REPORTED_ERRORS = 1000
SMS_SOURCE = "sms"
TAXPAYER_FIELD = "tp:"
_TRUE = frozenset({"1", "y", "yes", "true", "on", "是", "订阅", "开通"})
_FALSE = frozenset({"0", "n", "no", "false", "off", "否", "退订", "取消"})

# Import rows, each: record key in KEYS, (phone, state, source, taxpayer id) in ARGV. A state the taxpayer
# chose by SMS is kept unless ARGV[2] == '1' (override); the taxpayer id is recorded either way.
_IMPORT_LUA = """
local at, override = ARGV[1], ARGV[2] == '1'
local changed, kept = 0, 0
for i = 2, #KEYS do
  local base = 3 + (i - 2) * 4
  local phone, state, source, tp = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  if override or redis.call('HGET', KEYS[i], 'source') ~= 'sms' then
    redis.call('HSET', KEYS[1], phone, state)
    redis.call('HSET', KEYS[i], 'state', state, 'source', source, 'at', at)
    changed = changed + 1
  else
    kept = kept + 1
  end
  if tp ~= '' then redis.call('HSET', KEYS[i], 'tp:' .. tp, '1') end
end
return {changed, kept}
"""


class SubscriptionError(ValueError):
    """A phone that is not a mainland China mobile number."""


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """One phone's subscription: state, who set it last (sms, staff, import...), when, its taxpayer ids."""

    phone: str
    subscribed: bool
    source: str
    at: float
    taxpayer_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class ImportResult:
    """What an import did. `errors` lists (line number, reason) for the first MAX_REPORTED_ERRORS bad rows."""

    rows: int = 0
    subscribed: int = 0
    unsubscribed: int = 0
    kept: int = 0  # rows that did not override a state the taxpayer chose by SMS
    failed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def error(self, line: int, reason: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append((line, reason))


def parse_flag(value: str) -> bool:
    """'1', 'yes', 'true', '是' ... -> True; '0', 'no', 'false', '否' ... -> False; else ValueError."""
    flag = value.strip().lower()
    if flag in _TRUE:
        return True
    if flag in _FALSE:
        return False
    raise ValueError(f"subscribed must be 1/0 (yes/no, true/false), not {value!r}")


def normalise_phone(raw: str) -> str:
    """The 11-digit national form, or SubscriptionError."""
    try:
        return normalise_mobile(raw)
    except JobError:
        raise SubscriptionError(f"not a mainland China mobile number: {raw!r}") from None


class SubscriptionBook:
    """Reads and writes subscriptions under one key prefix."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._import = redis.register_script(_IMPORT_LUA)

    async def subscribe(self, phone: str, source: str, at: float, taxpayer_ids: Sequence[str] = ()) -> str:
        """Subscribe `phone`; return its normalised form."""
        return (await self.apply([(phone, True, source, at, taxpayer_ids)]))[0]

    async def unsubscribe(self, phone: str, source: str, at: float, taxpayer_ids: Sequence[str] = ()) -> str:
        """Unsubscribe `phone`; return its normalised form."""
        return (await self.apply([(phone, False, source, at, taxpayer_ids)]))[0]

    async def apply(self, changes: Iterable[tuple[str, bool, str, float, Sequence[str]]]) -> list[str]:
        """Apply (phone, subscribed, source, at, taxpayer ids) changes in one pipeline; return the phones.

        Every phone is checked before anything is written (SubscriptionError for the first bad one). Each
        phone's state goes to its shard (where the dispatcher reads it); one transaction per shard.
        """
        checked = [(normalise_phone(phone), *rest) for phone, *rest in changes]
        by_shard: dict[int, list[tuple[str, bool, str, float, Sequence[str]]]] = {}
        for change in checked:
            by_shard.setdefault(self.keys.for_phone(change[0]).shard_index, []).append(change)
        for index, group in by_shard.items():
            shard = self.keys.shard(index)
            async with self.redis.pipeline(transaction=True) as pipe:
                for phone, subscribed, source, at, taxpayer_ids in group:
                    state = "1" if subscribed else "0"
                    pipe.hset(shard.subscription_state, phone, state)
                    record: dict[str, str] = {"state": state, "source": source, "at": f"{at:.3f}"}
                    record.update({TAXPAYER_FIELD + tp: "1" for tp in taxpayer_ids if tp})
                    pipe.hset(shard.subscription(phone), mapping=record)  # type: ignore[arg-type]
                await pipe.execute()
        return [phone for phone, *_ in checked]

    async def state(self, phone: str) -> bool | None:
        """True (subscribed), False (unsubscribed) or None (no record)."""
        number = normalise_phone(phone)
        value = await self.redis.hget(self.keys.for_phone(number).subscription_state, number)
        return None if value is None else value == b"1"

    async def record(self, phone: str) -> SubscriptionRecord | None:
        """The phone's full record, or None."""
        number = normalise_phone(phone)
        raw = await self.redis.hgetall(self.keys.for_phone(number).subscription(number))
        if not raw:
            return None
        data = {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}
        taxpayer_ids = tuple(sorted(k[len(TAXPAYER_FIELD) :] for k in data if k.startswith(TAXPAYER_FIELD)))
        return SubscriptionRecord(
            number, data.get("state") == "1", data.get("source", ""), float(data.get("at", 0)), taxpayer_ids
        )

    async def import_csv(
        self,
        source: str | Path | Iterable[str],
        *,
        at: float,
        default_source: str = "import",
        override_sms: bool = False,
        chunk: int = IMPORT_CHUNK,
    ) -> ImportResult:
        """Import rows phone,taxpayer_id,subscribed[,source] (a header row is optional) from a path or lines.

        Rows go to Redis in chunks of `chunk`, one script call each (a million rows: 500 round trips). Bad
        rows are skipped and reported with their line number. A state the taxpayer chose by SMS is kept
        unless `override_sms`.
        """
        if isinstance(source, str | Path):
            with open(source, encoding="utf-8-sig", newline="") as fh:
                return await self.import_csv(
                    fh, at=at, default_source=default_source, override_sms=override_sms, chunk=chunk
                )
        result = ImportResult()
        rows: list[tuple[str, str, str, str]] = []
        reader = csv.reader(source)
        for row in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if line == 1 and cells[0].lower() == "phone":
                continue
            result.rows += 1
            parsed = self._parse_row(cells, default_source)
            if isinstance(parsed, str):
                result.error(line, parsed)
                continue
            phone, taxpayer_id, subscribed, row_source = parsed
            rows.append((phone, "1" if subscribed else "0", row_source, taxpayer_id))
            if subscribed:
                result.subscribed += 1
            else:
                result.unsubscribed += 1
            if len(rows) >= chunk:
                result.kept += await self._import_chunk(rows, at, override_sms)
                rows = []
        if rows:
            result.kept += await self._import_chunk(rows, at, override_sms)
        return result

    @staticmethod
    def _parse_row(cells: list[str], default_source: str) -> tuple[str, str, bool, str] | str:
        """(phone, taxpayer id, subscribed, source), or the reason the row is refused."""
        if len(cells) < 3:
            return f"expected phone,taxpayer_id,subscribed[,source], got {len(cells)} columns"
        try:
            phone = normalise_phone(cells[0])
            subscribed = parse_flag(cells[2])
        except ValueError as error:
            return str(error)
        source = cells[3] if len(cells) > 3 and cells[3] else default_source
        return phone, cells[1], subscribed, source

    async def _import_chunk(self, rows: list[tuple[str, str, str, str]], at: float, override_sms: bool) -> int:
        """Import (phone, state, source, taxpayer id) rows: one script call per shard, in one pipeline."""
        by_shard: dict[int, list[tuple[str, str, str, str]]] = {}
        for row in rows:
            by_shard.setdefault(self.keys.for_phone(row[0]).shard_index, []).append(row)
        calls: list[ScriptCall] = []
        for index, group in by_shard.items():
            shard = self.keys.shard(index)
            keys = [shard.subscription_state, *(shard.subscription(row[0]) for row in group)]
            calls.append((self._import, keys, [f"{at:.3f}", "1" if override_sms else "0", *chain(*group)]))
        return sum(int(kept) for _, kept in await run_scripts(self.redis, calls))
