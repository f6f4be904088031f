"""The staff inbox: consultations, reports and complaints taxpayers text in, as tickets staff answer.

A ticket is created once per MO message (creating it again for the same MO returns the first ticket), numbered
`T<China date>-<6-digit sequence>`. Phone numbers are masked, and control characters escaped, in every listing
and str(). A ticket belongs to a unit (ticket_unit: the taxpayers the directory has on the phone, else the unit
of the last message sent to it, else the province); staff see and answer the tickets of their unit and the
units below it. An answer comes from an authenticated operator with the staff12366 role and passes the
admission policy: it is signed with the operator's unit and real name, reviewed, audited, and (written by a
person) it keeps to the staff send window.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from redis.asyncio import Redis

from taxsms.directory.records import Taxpayer
from taxsms.errors import NotFound
from taxsms.governance.admission import Gate
from taxsms.governance.audit import Action
from taxsms.governance.operators import Operator
from taxsms.governance.policy import operator_principal
from taxsms.governance.units import UnitTree, load_units
from taxsms.privacy import mask_phone, mask_text
from taxsms.queue.jobs import CHINA, Job, JobError, Kind, normalise_mobile
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies.subscriptions import EVERY_TAXPAYER, SubscriptionBook, SubscriptionError

OPEN = "open"
ANSWERED = "answered"

# KEYS: the new ticket's hash, tickets zset, by-MO hash. ARGV: ticket id, created_at, mo id, then the fields.
# Returns the ticket id and 1 if new, 0 if the MO already had one (the new id then goes unused).
_CREATE_LUA = """
if ARGV[3] ~= '' then
  local known = redis.call('HGET', KEYS[3], ARGV[3])
  if known then return {known, 0} end
end
local record = {'id', ARGV[1], 'created_at', ARGV[2], 'mo_id', ARGV[3], 'status', 'open'}
for i = 4, #ARGV do record[#record + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(record))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], ARGV[3], ARGV[1]) end
return {ARGV[1], 1}
"""


class TicketKind(StrEnum):
    CONSULT = "consult"  # 咨询
    REPORT = "report"  # 举报
    COMPLAINT = "complaint"  # 投诉


TOPIC = {TicketKind.CONSULT: "咨询", TicketKind.REPORT: "举报", TicketKind.COMPLAINT: "投诉"}


def guess_kind(text: str) -> TicketKind:
    """举报 -> report, 投诉 -> complaint, anything else a consultation."""
    if "举报" in text:
        return TicketKind.REPORT
    if "投诉" in text:
        return TicketKind.COMPLAINT
    return TicketKind.CONSULT


class TicketError(NotFound):
    """No such ticket, or an answer that cannot be given."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """One ticket. `phone` is kept whole for the reply; repr() and str() show it masked."""

    id: str
    phone: str = field(repr=False)
    text: str
    kind: TicketKind
    created_at: float
    status: str = OPEN
    mo_id: str = ""
    unit: str = ""  # the unit whose staff answer it ('' for tickets older than units: the province's)
    operator: str = ""
    answer: str = ""
    answered_at: float = 0.0

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    def __str__(self) -> str:
        when = datetime.fromtimestamp(self.created_at, CHINA).strftime("%Y-%m-%d %H:%M")
        return f"{self.id} {when} {self.status} {TOPIC[self.kind]} {self.masked_phone}: {shown(self.text)}"

    def __repr__(self) -> str:
        return f"Ticket(id={self.id!r}, phone={self.masked_phone!r}, kind={self.kind.value!r}, status={self.status!r})"


_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")  # resident ID card


def shown(text: str) -> str:
    """A taxpayer's text for a listing: mobile and ID card numbers masked, control characters escaped."""
    masked = _ID_NUMBER.sub(lambda m: m[1] + "*" * 8 + m[2], mask_text(text))
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in masked)


def common_unit(tree: UnitTree, units: Collection[str]) -> str:
    """The lowest unit containing every one of `units` (the province when they have nothing else in common)."""
    known = [unit for unit in units if unit in tree]
    if not known:
        return tree.root
    chain = [known[0]]
    while tree.parent_of(chain[-1]):
        chain.append(tree.parent_of(chain[-1]))
    return next(unit for unit in chain if all(tree.contains(unit, other) for other in known))


async def ticket_unit(redis: Redis, keys: Keys, tree: UnitTree, phone: str) -> str:
    """The unit a ticket from `phone` belongs to: that of the taxpayers the directory has on the phone (their
    lowest common unit), else the unit of the newest message sent to the phone, else the province."""
    try:
        record = await SubscriptionBook(redis, keys).record(phone)
    except SubscriptionError:  # not a mobile number: nobody's in the directory
        record = None
    ids = [tid for tid in (record.taxpayers if record else {}) if tid != EVERY_TAXPAYER]
    if ids:
        async with redis.pipeline(transaction=False) as pipe:
            for tid in ids:
                pipe.hget(keys.taxpayer_bucket(tid), tid)
            packed = await pipe.execute()
        units = {Taxpayer.unpack(tid, raw).unit for tid, raw in zip(ids, packed, strict=True) if raw}
        if units:
            return common_unit(tree, units)
    for record in await JobStore(redis, keys).recent_to(phone):
        if record.get("unit") in tree:
            return record["unit"]
    return tree.root


class Inbox:
    """Tickets under one key prefix; answers become reply jobs admitted for the answering operator."""

    def __init__(self, redis: Redis, keys: Keys, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.keys = keys
        self._clock = clock
        self._create = redis.register_script(_CREATE_LUA)

    async def create(
        self, phone: str, text: str, *, mo_id: str = "", at: float | None = None, unit: str | None = None
    ) -> tuple[Ticket, bool]:
        """Open a ticket for an MO message; return it and whether it is new (False: this MO had one).
        `unit`: whose ticket it is (default: ticket_unit from the directory)."""
        at = self._clock() if at is None else at
        if unit is None:
            unit = await ticket_unit(self.redis, self.keys, await load_units(self.redis, self.keys), phone)
        kind = guess_kind(text)
        date = datetime.fromtimestamp(at, CHINA).strftime("%Y%m%d")
        new_id = f"T{date}-{await self.redis.incr(self.keys.ticket_seq):06d}"
        keys = [self.keys.ticket(new_id), self.keys.tickets, self.keys.tickets_by_mo]
        args = [new_id, f"{at:.3f}", mo_id, "phone", phone, "text", text, "kind", kind.value, "unit", unit]
        ticket_id, new = await self._create(keys=keys, args=args)
        ticket_id = ticket_id.decode() if isinstance(ticket_id, bytes) else ticket_id
        if not new:
            existing = await self.get(ticket_id)
            if existing is not None:
                return existing, False
        return Ticket(ticket_id, phone, text, kind, float(f"{at:.3f}"), mo_id=mo_id, unit=unit), bool(new)

    async def get(self, ticket_id: str) -> Ticket | None:
        raw = await self.redis.hgetall(self.keys.ticket(ticket_id))
        return _ticket(raw) if raw else None

    async def list(
        self, status: str | None = None, *, limit: int = 50, units: Collection[str] | None = None
    ) -> list[Ticket]:
        """Tickets newest first, optionally only those with `status` ('open' or 'answered') and of `units`."""
        found: list[Ticket] = []
        start, page = 0, max(limit, 100)
        while len(found) < limit:
            ids = await self.redis.zrevrange(self.keys.tickets, start, start + page - 1)
            if not ids:
                break
            async with self.redis.pipeline(transaction=False) as pipe:
                for ticket_id in ids:
                    pipe.hgetall(self.keys.ticket(ticket_id.decode()))
                records = await pipe.execute()
            found += [
                t
                for t in map(_ticket, filter(None, records))
                if (status is None or t.status == status) and (units is None or t.unit in units)
            ]
            start += page
        return found[:limit]

    async def answer(self, ticket_id: str, operator: Operator, text: str, gate: Gate) -> Job:
        """Mark the ticket answered by `operator` (authenticated by the caller) and return the reply job,
        admitted by the policy (TicketError with the reason if refused; nothing is marked then).

        Answering again gives a new job (id `answer-<ticket>-<n>`), e.g. to send the result of a report later.
        """
        if not text.strip():
            raise TicketError("empty answer")
        ticket = await self.get(ticket_id)
        if ticket is None or not sees_ticket(await load_units(self.redis, self.keys), operator.unit, ticket):
            raise TicketError(f"no ticket {ticket_id!r} for {operator.id} of {operator.unit}")
        try:
            phone = normalise_mobile(ticket.phone)
        except JobError:
            raise TicketError(f"ticket {ticket_id} came from {ticket.masked_phone}, which cannot be answered") from None
        answers = int(await self.redis.hget(self.keys.ticket(ticket_id), "answers") or 0)
        draft = Job(
            id=f"answer-{ticket_id}-{answers + 1}",
            kind=Kind.REPLY,
            to=phone,
            text=text.strip(),
            in_reply_to=ticket.mo_id or ticket_id,
            meta={"ticket": ticket_id},
        )
        admitted, refused = await gate.admit_all([draft], operator_principal(operator), "inbox")
        if refused:
            raise TicketError(f"answer refused: {refused[0].error}")
        job = admitted[0]
        now = self._clock()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(self.keys.ticket(ticket_id), "answers", 1)
            fields = {"status": ANSWERED, "operator": operator.id, "answer": job.text, "answered_at": f"{now:.3f}"}
            pipe.hset(self.keys.ticket(ticket_id), mapping=fields)
            await pipe.execute()
        details = {"unit": operator.unit, "job": job.id, "text": job.text}
        await gate.audit.append(operator.id, Action.TICKET_ANSWER, ticket_id, details)
        return job


def sees_ticket(tree: UnitTree, unit: str, ticket: Ticket) -> bool:
    """Whether staff of `unit` see (and answer) `ticket`: of their unit or below; the province sees every one."""
    return unit == tree.root or tree.contains(unit, ticket.unit)


def _ticket(raw: dict[bytes, bytes]) -> Ticket:
    data = {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}
    return Ticket(
        id=data["id"],
        phone=data.get("phone", ""),
        text=data.get("text", ""),
        kind=TicketKind(data.get("kind", TicketKind.CONSULT)),
        created_at=float(data.get("created_at", 0)),
        status=data.get("status", OPEN),
        mo_id=data.get("mo_id", ""),
        unit=data.get("unit", ""),
        operator=data.get("operator", ""),
        answer=data.get("answer", ""),
        answered_at=float(data.get("answered_at", 0)),
    )
