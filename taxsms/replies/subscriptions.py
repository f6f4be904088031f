"""Consent to the tax SMS service, per taxpayer and phone, with an append-only trail of every change.

Each phone has one consent record (field `phone` of the bucket hash `Keys.consent(phone)`, in the phone's
shard): a header line `<sms>,<taxpayer id>=<state>,...,` then one trail line per change, oldest first.
`<sms>` is what the phone last said by SMS ('T' opted out, 'K' opted in, '-' nothing); a state is '1'
(subscribed), '0' (not) or '?' (registered on the phone, never asked). A trail line is
`at|taxpayer id or *|state|how|ref|detail`: how = sms (ref: the MO message id, detail: the keyword),
staff (the operator, the reason), api (the token, the reason) or import (the import id, the row;
`Keys.consent_imports` names the file).

Rules, applied atomically in one script per shard:
- an SMS opt-out (TD) applies to every taxpayer on the phone, and wins over later imports and staff: they
  are kept out ('kept' in the trail) unless a staff override gives its reason (audited by the caller);
- an SMS opt-in (KT) subscribes every taxpayer on the phone (and registers the one it names);
- the phone's summary in `Keys.subscription_state` ('1' if any taxpayer on it is subscribed, else '0';
  none while nobody was ever asked) is what the dispatcher's claim script reads for every kind; it also
  reads the per-taxpayer state of a job's taxpayer.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from redis.asyncio import Redis

from taxsms.csvrows import RefusedRows
from taxsms.directory.buckets import BucketReader
from taxsms.errors import InvalidInput
from taxsms.governance.audit import Action, AuditLog
from taxsms.privacy import mask_phone
from taxsms.queue.jobs import CHINA, JobError, normalise_mobile
from taxsms.queue.keys import Keys
from taxsms.queue.store import ScriptCall, run_scripts

IMPORT_CHUNK = 2000
EVERY_TAXPAYER = "*"
_TRUE = frozenset({"1", "y", "yes", "true", "on", "是", "订阅", "开通"})
_FALSE = frozenset({"0", "n", "no", "false", "off", "否", "退订", "取消"})
_FIELD_NOISE = str.maketrans({"|": "/", "\n": " ", "\r": " ", "\t": " ", ",": "，", "=": "＝"})

# KEYS: subscription state hash, then one consent bucket per change.
# ARGV: one per change, its fields joined by tabs: phone, taxpayer id ('*': every one on the phone), state
#   ('1', '0', '' = register only, 'x' = remove the taxpayer from the phone), how, at, ref, detail, override
#   ('1' / '0'). (One argument per change, not eight: packing arguments is most of a big import's client time.)
# Returns one word per change: 'set', 'same', 'kept' (an SMS opt-out won), 'refused' (staff without override).
_CONSENT_LUA = """
local results = {}
for i = 2, #KEYS do
  local f, from = {}, 1
  local arg = ARGV[i - 1]
  for n = 1, 7 do
    local tab = string.find(arg, '\t', from, true)
    f[n] = string.sub(arg, from, tab - 1)
    from = tab + 1
  end
  f[8] = string.sub(arg, from)
  local phone, tp, state, how, at, ref, detail = f[1], f[2], f[3], f[4], f[5], f[6], f[7]
  local override = f[8] == '1'
  local value = redis.call('HGET', KEYS[i], phone)
  if not value and how ~= 'sms' and tp ~= '*' and state ~= 'x' and not override then
    -- the common case of a big import: a phone seen for the first time
    local s = state == '' and '?' or state
    redis.call('HSET', KEYS[i], phone, '-,' .. tp .. '=' .. s .. ',\\n' .. at .. '|' .. tp .. '|' .. s .. '|' ..
               how .. '|' .. ref .. '|' .. detail)
    if s ~= '?' then redis.call('HSET', KEYS[1], phone, s) end
    results[#results + 1] = 'set'
  else
  value = value or '-,'
  local cut = string.find(value, '\\n', 1, true)
  local header = cut and string.sub(value, 1, cut - 1) or value
  local trail = cut and string.sub(value, cut) or ''
  local sms = string.sub(header, 1, 1)
  local states, order = {}, {}
  for id, s in string.gmatch(header, ',([^,=]+)=([^,]*)') do states[id] = s; order[#order + 1] = id end
  local outcome = 'set'
  local recorded = state
  if how == 'sms' then
    sms = state == '0' and 'T' or 'K'
    if tp ~= '*' and states[tp] == nil then order[#order + 1] = tp end
    for _, id in ipairs(order) do states[id] = state end
  elseif state == 'x' then
    if states[tp] == nil then outcome = 'same' end
    states[tp] = nil
  elseif state == '' then
    if states[tp] == nil then order[#order + 1] = tp; states[tp] = '?' else outcome = 'same' end
    recorded = '?'
  elseif state == '1' and sms == 'T' and not override then
    outcome = how == 'staff' and 'refused' or 'kept'
    recorded = 'k'
    if states[tp] == nil and tp ~= '*' then order[#order + 1] = tp; states[tp] = '0' end
  else
    if override then sms = '-' end
    if tp == '*' then
      if #order == 0 then order[1] = '*' end  -- a phone nobody registered: its own consent
      for _, id in ipairs(order) do states[id] = state end
    else
      if states[tp] == nil then order[#order + 1] = tp end
      if states[tp] == state then outcome = 'same' end
      states[tp] = state
    end
  end
  local parts, any_on, any_off = {sms}, false, false
  for _, id in ipairs(order) do
    local s = states[id]
    if s then
      parts[#parts + 1] = id .. '=' .. s
      if s == '1' then any_on = true elseif s == '0' then any_off = true end
    end
  end
  if outcome ~= 'same' or how ~= 'import' then
    trail = trail .. '\\n' .. at .. '|' .. tp .. '|' .. recorded .. '|' .. how .. '|' .. ref .. '|' .. detail
  end
  redis.call('HSET', KEYS[i], phone, table.concat(parts, ',') .. ',' .. trail)
  if any_on or (sms == 'K' and not any_off) then redis.call('HSET', KEYS[1], phone, '1')
  elseif any_off or sms == 'T' then redis.call('HSET', KEYS[1], phone, '0')
  else redis.call('HDEL', KEYS[1], phone) end
  results[#results + 1] = outcome
  end
end
return results
"""


class SubscriptionError(InvalidInput):
    """A phone that is not a mainland China mobile number, or a change the rules refuse."""


class How(StrEnum):
    """How a consent change came in."""

    SMS = "sms"
    STAFF = "staff"
    IMPORT = "import"
    API = "api"


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """One change. `subscribed` None registers the taxpayer on the phone without asking; `remove` takes it off.

    ref / detail: for sms the MO message id and the keyword; for staff the operator and the reason; for an
    import the import id and the row number.
    """

    phone: str
    subscribed: bool | None
    how: How
    at: float
    taxpayer_id: str = EVERY_TAXPAYER
    ref: str = ""
    detail: str = ""
    override: bool = False
    remove: bool = False

    def arg(self) -> str:
        """The change as the consent script's argument (tab-separated fields)."""
        state = "x" if self.remove else "" if self.subscribed is None else "1" if self.subscribed else "0"
        ref, detail = self.ref.translate(_FIELD_NOISE), self.detail.translate(_FIELD_NOISE)
        override = "1" if self.override else "0"
        return (f"{self.phone}\t{self.taxpayer_id or EVERY_TAXPAYER}\t{state}\t{self.how}\t{self.at:.0f}\t{ref}\t"
                f"{detail}\t{override}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One line of a phone's consent trail. state: '1', '0', '?' (registered), 'x' (removed), 'k' (kept out)."""

    at: float
    taxpayer_id: str
    state: str
    how: str
    ref: str
    detail: str

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.at, CHINA).strftime("%Y-%m-%d %H:%M:%S")
        what = {"1": "subscribed", "0": "unsubscribed", "?": "registered", "x": "removed",
                "k": "kept unsubscribed (the SMS opt-out wins)"}.get(self.state, self.state)  # fmt: skip
        who = "every taxpayer" if self.taxpayer_id == EVERY_TAXPAYER else self.taxpayer_id
        by = {"sms": f"by SMS {self.detail} (MO {self.ref})", "staff": f"by staff {self.ref}: {self.detail}",
              "import": f"by import {self.ref} row {self.detail}",
              "api": f"by the API ({self.ref}): {self.detail}"}.get(self.how, f"{self.how} {self.ref}")  # fmt: skip
        return f"{when} {who}: {what} {by}"


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """One phone's consent: per taxpayer ('1' / '0' / '?'), its last SMS choice and its trail."""

    phone: str
    taxpayers: dict[str, str]
    sms: str  # 'T' opted out by SMS, 'K' opted in by SMS, '-' never said
    trail_text: str = ""  # the stored trail lines (parsed by `trail` only when asked for)

    @property
    def trail(self) -> tuple[TrailEntry, ...]:
        entries = []
        for line in filter(None, self.trail_text.split("\n")):
            at, tp, state, how, ref, detail = [*line.split("|", 5), "", "", "", "", ""][:6]
            entries.append(TrailEntry(float(at or 0), tp, state, how, ref, detail))
        return tuple(entries)

    @property
    def subscribed(self) -> bool:
        """What the dispatcher reads: some taxpayer on the phone is subscribed (or it opted in by SMS alone)."""
        states = set(self.taxpayers.values())
        return "1" in states or (self.sms == "K" and "0" not in states)

    @property
    def taxpayer_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.taxpayers))

    def subscribed_for(self, taxpayer_id: str) -> bool:
        return self.taxpayers.get(taxpayer_id) == "1"


def parse_record(phone: str, value: str) -> SubscriptionRecord:
    """A stored consent value -> SubscriptionRecord."""
    header, _, trail = value.partition("\n")
    sms, *pairs = header.split(",")
    taxpayers = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    return SubscriptionRecord(phone, taxpayers, sms or "-", trail)


@dataclass(slots=True)
class ImportResult(RefusedRows):
    """What an import did: the rows read, the consent they set, the rows refused."""

    rows: int = 0
    subscribed: int = 0
    unsubscribed: int = 0
    kept: int = 0  # rows that could not subscribe a phone that opted out by SMS


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
    """Reads and changes consent under one key prefix."""

    def __init__(self, redis: Redis, keys: Keys, *, audit: AuditLog | None = None) -> None:
        self.redis = redis
        self.keys = keys
        self.audit = audit or AuditLog(redis, keys)
        self._consent = redis.register_script(_CONSENT_LUA)
        self._reader = BucketReader(redis)

    async def apply(self, changes: Iterable[ConsentChange]) -> list[str]:
        """Apply changes (phones checked first: SubscriptionError for the first bad one, nothing written).

        One script call per shard, all in one pipeline. Returns one outcome per change: 'set', 'same',
        'kept' (an import could not subscribe a phone that opted out by SMS) or 'refused' (staff, no override).
        """
        checked = [_replace_phone(change, normalise_phone(change.phone)) for change in changes]
        for change in checked:
            if change.override and not change.detail.strip():
                raise SubscriptionError("an override of what the taxpayer chose by SMS needs a reason")
        by_shard: dict[int, list[int]] = {}
        for i, change in enumerate(checked):
            by_shard.setdefault(self.keys.phone_shard(change.phone), []).append(i)
        calls: list[ScriptCall] = []
        for index, members in by_shard.items():
            shard = self.keys.shard(index)
            keys = [shard.subscription_state, *(self.keys.consent(checked[i].phone) for i in members)]
            args = [checked[i].arg() for i in members]
            calls.append((self._consent, keys, args))
        outcomes = [""] * len(checked)
        for members, result in zip(by_shard.values(), await run_scripts(self.redis, calls), strict=True):
            for i, word in zip(members, result, strict=True):
                outcomes[i] = word.decode() if isinstance(word, bytes) else str(word)
        for change, outcome in zip(checked, outcomes, strict=True):
            if change.override and outcome == "set":  # staff overrode what the taxpayer chose by SMS
                details = {"phone": mask_phone(change.phone), "taxpayer": change.taxpayer_id,
                           "subscribed": change.subscribed, "reason": change.detail}  # fmt: skip
                await self.audit.append(change.ref, Action.CONSENT_OVERRIDE, mask_phone(change.phone), details)
        return outcomes

    async def subscribe(self, phone: str, how: How, at: float, taxpayer_id: str = EVERY_TAXPAYER, **kw: str) -> str:
        """Subscribe `phone` (for one taxpayer, or every one on it); return the outcome."""
        return (await self.apply([ConsentChange(phone, True, how, at, taxpayer_id, **kw)]))[0]  # type: ignore[arg-type]

    async def unsubscribe(self, phone: str, how: How, at: float, taxpayer_id: str = EVERY_TAXPAYER, **kw: str) -> str:
        """Unsubscribe `phone` (for one taxpayer, or every one on it); return the outcome."""
        return (await self.apply([ConsentChange(phone, False, how, at, taxpayer_id, **kw)]))[0]  # type: ignore[arg-type]

    async def state(self, phone: str) -> bool | None:
        """The phone's summary: True (subscribed), False (unsubscribed) or None (never asked)."""
        number = normalise_phone(phone)
        value = await self.redis.hget(self.keys.for_phone(number).subscription_state, number)
        return None if value is None else value == b"1"

    async def record(self, phone: str) -> SubscriptionRecord | None:
        """The phone's consent and trail, or None."""
        number = normalise_phone(phone)
        return (await self.records([number])).get(number)

    async def records(self, phones: Sequence[str]) -> dict[str, SubscriptionRecord]:
        """Consent records of normalised `phones` (those that have one), one script call per shard."""
        unique = list(dict.fromkeys(phones))
        values = await self._reader.get([(self.keys.consent(phone), phone) for phone in unique])
        return {p: parse_record(p, v.decode()) for p, v in zip(unique, values, strict=True) if v is not None}

    async def new_import(self, file: str, operator: str, at: float) -> str:
        """Register an import of `file` and return its id ('i<n>'), which the trail lines refer to."""
        number = await self.redis.hincrby(self.keys.consent_imports, "seq", 1)
        import_id = f"i{number}"
        when = datetime.fromtimestamp(at, CHINA).isoformat(timespec="seconds")
        await self.redis.hset(self.keys.consent_imports, import_id, f"{file}|{operator}|{when}")
        return import_id

    async def import_info(self, import_id: str) -> str:
        """'file (by operator, at time)' of an import id, or the id itself when unknown."""
        raw = await self.redis.hget(self.keys.consent_imports, import_id)
        if raw is None:
            return import_id
        file, operator, when = [*raw.decode().split("|"), "", ""][:3]
        return f"{file} (by {operator or '?'}, {when})"

    async def import_csv(
        self,
        source: str | Path | Iterable[str],
        *,
        operator: str = "",
        at: float | None = None,
        chunk: int = IMPORT_CHUNK,
        name: str = "",
    ) -> ImportResult:
        """Import rows phone,taxpayer_id,subscribed from a CSV file or lines (a header row is optional).

        Each row's trail line names the import (the file, or `name` for lines) and the row. Bad rows are
        skipped and reported with their line number. A phone that opted out by SMS stays out ('kept').
        """
        if isinstance(source, str | Path):
            with open(source, encoding="utf-8-sig", newline="") as fh:
                return await self.import_csv(fh, operator=operator, at=at, chunk=chunk, name=str(source))
        at = time.time() if at is None else at
        import_id = await self.new_import(name or "(lines)", operator, at)
        result = ImportResult()
        changes: list[ConsentChange] = []
        reader = csv.reader(source)
        for row in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#") or (line == 1 and cells[0].lower() == "phone"):
                continue
            result.rows += 1
            if len(cells) < 3:
                result.error(line, f"expected phone,taxpayer_id,subscribed, got {len(cells)} columns")
                continue
            try:
                phone, subscribed = normalise_phone(cells[0]), parse_flag(cells[2])
            except ValueError as error:
                result.error(line, str(error))
                continue
            tp = cells[1] or EVERY_TAXPAYER
            changes.append(ConsentChange(phone, subscribed, How.IMPORT, at, tp, import_id, str(line)))
            if len(changes) >= chunk:
                await self._count(changes, result)
                changes = []
        await self._count(changes, result)
        return result

    async def _count(self, changes: list[ConsentChange], result: ImportResult) -> None:
        if not changes:
            return
        for change, outcome in zip(changes, await self.apply(changes), strict=True):
            if outcome == "kept":
                result.kept += 1
            elif change.subscribed:
                result.subscribed += 1
            else:
                result.unsubscribed += 1


def _replace_phone(change: ConsentChange, phone: str) -> ConsentChange:
    return change if phone == change.phone else replace(change, phone=phone)
