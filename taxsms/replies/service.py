"""The reply service: reads taxpayers' messages (MO) from Redis and answers them with reply jobs.

Per batch: read MO entries with the 'replies' consumer group, classify each text, apply subscriptions, look
invoices and statuses up, open tickets, check the abuse limits, admit each reply through the admission policy
(as the service principal of `config.unit`: signed with that unit's registered signature, reviewed; refusals
audited and not sent), enqueue the reply jobs in one call, then ack.
A reply job's id is `mo-<entry id>`, so an MO processed twice (a crash before the ack) is answered once; every
step before the ack is idempotent too (subscriptions are set, tickets are keyed by the MO entry).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from taxsms.governance.admission import Gate, Refusal
from taxsms.governance.policy import Refused, Registry, admit, service_principal
from taxsms.privacy import mask_phone
from taxsms.queue.connect import RETRYABLE
from taxsms.queue.jobs import Job, Kind
from taxsms.queue.keys import Keys
from taxsms.queue.store import JobStore
from taxsms.replies import texts
from taxsms.replies.config import ReplyConfig
from taxsms.replies.inbox import Inbox
from taxsms.replies.keywords import (
    Command,
    FreeText,
    InvoiceCheck,
    InvoiceHelp,
    StatusHelp,
    StatusQuery,
    Subscribe,
    Unsubscribe,
    classify,
)
from taxsms.replies.limits import Incoming, MoLimiter, Withheld, sender_mobile
from taxsms.replies.providers import UNAVAILABLE_TEXT, Provider
from taxsms.replies.subscriptions import EVERY_TAXPAYER, ConsentChange, How, SubscriptionBook
from taxsms.retry import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MoEntry:
    """One entry of the MO stream (written by the dispatcher's DeliverySink: from, to, text, at)."""

    entry_id: str
    sender: str
    destination: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """What was done with one MO: the action, the reply job and its text (if any), why not, the ticket."""

    entry_id: str
    action: str
    job_id: str = ""
    text: str = ""
    withheld: Withheld | None = None
    ticket: str = ""
    refused: str = ""  # the admission policy's reason, when the reply was not sent


ACTIONS: dict[type, str] = {
    Subscribe: "subscribe",
    Unsubscribe: "unsubscribe",
    InvoiceCheck: "invoice",
    InvoiceHelp: "invoice_help",
    StatusQuery: "status",
    StatusHelp: "status_help",
    FreeText: "ticket",
}
MACHINE_TEXT = frozenset({Withheld.ECHO, Withheld.AUTO_REPLY, Withheld.NOT_MOBILE})


def parse_entry(entry_id: bytes | str, fields: dict[bytes, bytes] | None) -> MoEntry | None:
    """An MO stream entry, or None when it was deleted (nothing to answer)."""
    eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    if not fields:
        return None
    data = {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
    try:
        at = float(data.get("at", "0"))
    except ValueError:
        at = 0.0
    return MoEntry(eid, data.get("from", ""), data.get("to", ""), data.get("text", ""), at)


class ReplyService:
    """Answers MO messages; `run()` until `stop()`, or `process_batch()` one batch at a time."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        provider: Provider,
        config: ReplyConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.provider = provider
        self.config = config or ReplyConfig()
        self._clock = clock
        self.store = JobStore(redis, keys, clock=clock)
        self.book = SubscriptionBook(redis, keys)
        self.inbox = Inbox(redis, keys, clock=clock)
        self.gate = Gate(redis, keys)
        self.principal = service_principal(self.config.unit)
        self.limiter = MoLimiter(redis, keys, self.config)
        self._stopping = asyncio.Event()
        self._recovering = True  # first the entries this consumer read before a restart but never acked
        self._next_claim = 0.0
        self.handled = 0
        self.replied = 0

    def stop(self) -> None:
        self._stopping.set()

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.mo, self.config.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        await self.ensure_group()
        # The admission snapshot before the first MO: its first load builds the content review's folding
        # tables (~0.1-0.3 s of CPU), which would otherwise delay the first replies by as much.
        await self.gate.registry()
        backoff = Backoff(self.config.retry_s, max(self.config.retry_s, 30.0))
        while not self._stopping.is_set():
            try:
                await self.process_batch(block_ms=self.config.block_ms)
            except RETRYABLE as error:
                log.warning("reply service: Redis unavailable (%s), retrying", error)
            except Exception:
                log.exception("reply service: batch failed, retrying")
            else:
                backoff.reset()
                continue
            self._recovering = True  # what this consumer read but did not ack is read again first
            await backoff.wait(self._stopping)

    async def process_batch(self, *, block_ms: int | None = None) -> list[Outcome]:
        """Read one batch (waiting up to block_ms for new entries; None: do not wait), answer it, ack it."""
        raw = await self._read(block_ms)
        entries = [(eid, parse_entry(eid, fields)) for eid, fields in raw]
        messages = [mo for _, mo in entries if mo is not None]
        outcomes, jobs, last = await self._handle(messages) if messages else ([], [], {})
        if jobs:
            await self.store.enqueue(jobs)
        if entries:
            async with self.redis.pipeline(transaction=False) as pipe:
                self.limiter.remember(pipe, last)
                pipe.xack(self.keys.mo, self.config.group, *(eid for eid, _ in entries))
                await pipe.execute()
        self.handled += len(messages)
        self.replied += len(jobs)
        return outcomes

    async def _read(self, block_ms: int | None) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
        group, consumer, count = self.config.group, self.config.consumer, self.config.batch
        if self._recovering:
            reply = await self.redis.xreadgroup(group, consumer, {self.keys.mo: "0"}, count=count)
            items = [item for _, batch in reply or () for item in batch]
            if items:
                return items
            self._recovering = False
        now = self._clock()
        if now >= self._next_claim:
            self._next_claim = now + self.config.claim_idle_s
            claimed = await self.redis.xautoclaim(
                self.keys.mo, group, consumer, int(self.config.claim_idle_s * 1000), count=count
            )
            if claimed and claimed[1]:
                return list(claimed[1])
        reply = await self.redis.xreadgroup(group, consumer, {self.keys.mo: ">"}, count=count, block=block_ms)
        return [item for _, batch in reply or () for item in batch]

    async def _handle(self, messages: Sequence[MoEntry]) -> tuple[list[Outcome], list[Job], dict[str, str]]:
        commands = [classify(mo.text) for mo in messages]
        verdicts = await self.limiter.check([Incoming(mo.sender, mo.text, mo.entry_id) for mo in messages])
        phones = [sender_mobile(mo.sender) for mo in messages]
        changes = [
            ConsentChange(
                phone,
                isinstance(cmd, Subscribe),
                How.SMS,
                mo.at or time.time(),
                (cmd.taxpayer_id if isinstance(cmd, Subscribe) else "") or EVERY_TAXPAYER,
                ref=mo.entry_id,
                detail=mo.text.strip()[:20],
            )
            for mo, cmd, phone in zip(messages, commands, phones, strict=True)
            if phone is not None and isinstance(cmd, Subscribe | Unsubscribe)
        ]
        if changes:
            await self.book.apply(changes)
        answers = await asyncio.gather(
            *(
                self._answer(mo, cmd, phone, v)
                for mo, cmd, phone, v in zip(messages, commands, phones, verdicts, strict=True)
            )
        )
        registry = await self.gate.registry()
        outcomes, jobs, last, refused = [], [], {}, []
        for mo, cmd, phone, withheld, (body, ticket) in zip(messages, commands, phones, verdicts, answers, strict=True):
            action = ACTIONS[type(cmd)]
            if phone is None or withheld is not None or body is None:
                outcomes.append(Outcome(mo.entry_id, action, withheld=withheld, ticket=ticket))
                log.info("MO %s from %s: %s, no reply (%s)", mo.entry_id, mask_phone(mo.sender), action, withheld)
                continue
            try:
                job = self._reply_job(mo, phone, body, action, registry)
            except Refused as error:
                refused.append(Refusal(f"mo-{mo.entry_id}", error))
                outcomes.append(Outcome(mo.entry_id, action, ticket=ticket, refused=error.reason))
                log.warning("MO %s: reply refused by the admission policy: %s", mo.entry_id, error.reason)
                continue
            jobs.append(job)
            last[phone] = job.text
            outcomes.append(Outcome(mo.entry_id, action, job.id, job.text, ticket=ticket))
        await self.gate.record_refused(self.principal.tag, "replies", refused, self.principal.unit)
        return outcomes, jobs, last

    async def _answer(
        self, mo: MoEntry, cmd: Command, phone: str | None, withheld: Withheld | None
    ) -> tuple[str | None, str]:
        """(reply body or None, ticket id or ''). Lookups are skipped when no reply will be sent."""
        if isinstance(cmd, FreeText):
            if phone is None or withheld in MACHINE_TEXT:
                return None, ""
            ticket, _ = await self.inbox.create(phone, cmd.text, mo_id=mo.entry_id, at=mo.at or None)
            return texts.ticket_reply(ticket.kind, ticket.id), ticket.id
        if phone is None or withheld is not None:
            return None, ""
        if isinstance(cmd, Subscribe):
            return texts.SUBSCRIBED, ""
        if isinstance(cmd, Unsubscribe):
            return texts.UNSUBSCRIBED, ""
        try:
            if isinstance(cmd, InvoiceCheck):
                return texts.invoice_reply(await self.provider.lookup_invoice(cmd.code, cmd.number)), ""
            if isinstance(cmd, StatusQuery):
                return texts.status_reply(await self.provider.lookup_status(cmd.reference)), ""
        except Exception:  # a provider that breaks its promise not to raise: the taxpayer still hears back
            log.exception("provider lookup failed for MO %s", mo.entry_id)
            return UNAVAILABLE_TEXT, ""
        if isinstance(cmd, InvoiceHelp):
            return texts.INVOICE_HELP, ""
        return texts.STATUS_HELP, ""

    def _reply_job(self, mo: MoEntry, phone: str, body: str, action: str, registry: Registry) -> Job:
        """The reply, admitted for the service (Refused if the policy says no)."""
        job = Job(f"mo-{mo.entry_id}", Kind.REPLY, phone, body, in_reply_to=mo.entry_id, meta={"action": action})
        return admit(job, self.principal, registry)
