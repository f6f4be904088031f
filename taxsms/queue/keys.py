"""Every Redis key name taxsms uses, in one place; each carries the configurable prefix."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

DEFAULT_PREFIX = "taxsms"
CONSUMER_GROUP = "dispatchers"
#: Buckets of the queued index: ~60 queued jobs per bucket at a million, small enough for Redis's compact
#: (listpack) hash encoding, which costs ~30 bytes per job instead of a key of its own (~200 bytes).
QUEUED_BUCKETS = 16384


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix (one deployment of taxsms per prefix)."""

    prefix: str = DEFAULT_PREFIX

    @property
    def intake(self) -> str:
        """Stream of accepted jobs, read by the dispatchers' consumer group."""
        return f"{self.prefix}:stream:jobs"

    def lane(self, lane: int) -> str:
        """Stream of jobs ready to send in one priority lane (0 = replies ... 3 = bulk)."""
        return f"{self.prefix}:stream:lane{lane}"

    def delayed(self, lane: int) -> str:
        """Sorted set: job id -> release time, jobs waiting for a window, not_before or a retry."""
        return f"{self.prefix}:delayed:{lane}"

    def rate(self, link: str) -> str:
        """The shared rate limiter state (GCRA theoretical arrival time) of one SMSC link."""
        return f"{self.prefix}:rate:{link}"

    def recipient_cap(self, kind: str, phone: str, day: str) -> str:
        """Counter of messages of one kind to one phone on one day (per-recipient caps)."""
        return f"{self.prefix}:cap:{kind}:{day}:{phone}"

    @property
    def workers(self) -> str:
        """Hash: worker consumer name -> JSON {binds, at}, each worker's heartbeat."""
        return f"{self.prefix}:workers"

    @property
    def events(self) -> str:
        """Stream of job state changes, for upstream systems (each reads with its own consumer group)."""
        return f"{self.prefix}:stream:events"

    @property
    def dead_letters(self) -> str:
        """Stream of jobs that cannot be sent, each with the reason."""
        return f"{self.prefix}:stream:dead"

    @property
    def counts(self) -> str:
        """Hash: job state -> number of jobs in it."""
        return f"{self.prefix}:counts"

    @property
    def stats(self) -> str:
        """Hash of counters that are not job states (segments, unknown receipts, resends...)."""
        return f"{self.prefix}:stats"

    @property
    def mo(self) -> str:
        """Stream of messages taxpayers sent in (MO), for the reply handlers."""
        return f"{self.prefix}:stream:mo"

    def queued_index(self, job_id: str) -> str:
        """Hash bucket: job id -> enqueue time (ms) for jobs not yet picked up; they get a record when they are."""
        return f"{self.prefix}:queued:{zlib.crc32(job_id.encode()) % QUEUED_BUCKETS}"

    def job(self, job_id: str) -> str:
        """Hash holding one job's record and status."""
        return f"{self.prefix}:job:{job_id}"

    def message(self, message_id: str) -> str:
        """SMSC message id -> 'job_id part' (with a TTL) so receipts find their job."""
        return f"{self.prefix}:msg:{message_id}"

    def usage(self, month: str) -> str:
        """Hash: '<unit>|<kind>' -> segments sent in month 'YYYY-MM' (accounting)."""
        return f"{self.prefix}:usage:{month}"

    # -- replies (taxsms.replies) ------------------------------------------------------------------------

    @property
    def subscription_state(self) -> str:
        """Hash: phone -> '1' (subscribed) or '0' (unsubscribed); read by the dispatcher's claim script."""
        return f"{self.prefix}:sub:state"

    def subscription(self, phone: str) -> str:
        """Hash: one phone's subscription record (taxpayer ids, state, time, source)."""
        return f"{self.prefix}:sub:{phone}"

    def invoice(self, code: str, number: str) -> str:
        """Hash: one invoice's record for authenticity checks (the Redis-backed provider)."""
        return f"{self.prefix}:invoice:{code}:{number}"

    def ticket(self, ticket_id: str) -> str:
        """Hash: one staff-inbox ticket."""
        return f"{self.prefix}:ticket:{ticket_id}"

    @property
    def tickets(self) -> str:
        """Sorted set: ticket id -> creation time, for the staff inbox listing."""
        return f"{self.prefix}:tickets"

    @property
    def ticket_seq(self) -> str:
        """Counter for ticket numbers."""
        return f"{self.prefix}:ticket:seq"

    def mo_rate(self, phone: str) -> str:
        """Counter of MO messages from one phone in the current abuse-limit window."""
        return f"{self.prefix}:morate:{phone}"

    # -- governance (taxsms.templates, taxsms.governance) ------------------------------------------------

    @property
    def templates(self) -> str:
        """Hash: template name -> its definition (JSON), loaded from the reviewed template files."""
        return f"{self.prefix}:templates"

    @property
    def forbidden_terms(self) -> str:
        """The forbidden-content list (JSON), reloadable without restarting anything."""
        return f"{self.prefix}:review:terms"

    @property
    def units(self) -> str:
        """Hash: unit id -> unit record (JSON): name, level, parent."""
        return f"{self.prefix}:units"

    @property
    def operators(self) -> str:
        """Hash: operator id -> operator record (JSON): name, unit, roles, status, password hash."""
        return f"{self.prefix}:operators"

    def campaign(self, campaign_id: str) -> str:
        """Hash: one campaign (a notice to a scope) and its approval state."""
        return f"{self.prefix}:campaign:{campaign_id}"

    def campaign_jobs(self, campaign_id: str) -> str:
        """List of a campaign's job JSON, held until approval."""
        return f"{self.prefix}:campaign:{campaign_id}:jobs"

    @property
    def campaigns(self) -> str:
        """Sorted set: campaign id -> creation time."""
        return f"{self.prefix}:campaigns"

    @property
    def audit(self) -> str:
        """Stream: the append-only, hash-chained audit log."""
        return f"{self.prefix}:stream:audit"

    def quota(self, unit: str) -> str:
        """Monthly segment quota of one unit (absent = no quota)."""
        return f"{self.prefix}:quota:{unit}"

    def orphan_receipt(self, message_id: str) -> str:
        """A receipt whose message id was not (yet) known, kept for later matching."""
        return f"{self.prefix}:orphan:{message_id}"
