"""Every Redis key name taxsms uses, in one place; each carries the configurable prefix.

The job keyspace is split into `shards` shards, each under its own hash tag `{<prefix>:<shard>}` so that
every Lua script and every multi-stream read touches one cluster slot. A job lives in the shard of its
recipient's phone (with that phone's subscription state and daily caps). A single Redis has one shard;
a Redis Cluster several, spread over its masters (see README "Redis Cluster"). A `Keys` object names the
keys of one shard (`shard`, 0 by default) of an explicit count (`queue.connect.keys_for` picks it for a client);
`keys.shard(n)` and `keys.for_phone(phone)` give the others.
Keys outside the job keyspace (templates, units, operators, campaigns, the MO stream, the rate limiter...)
share one other tag, `{<prefix>}` (`keys.control`).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_PREFIX = "taxsms"
CONSUMER_GROUP = "dispatchers"
#: Buckets of the queued index (over all shards): ~60 queued jobs per bucket at a million, small enough for
#: Redis's compact (listpack) hash encoding, ~30 bytes per job instead of a key of its own (~200 bytes).
QUEUED_BUCKETS = 16384
#: Buckets per shard of the directory's taxpayer records and of the consent records.
DIRECTORY_BUCKETS = 4096


def _bucket(text: str, shards: int) -> int:
    """A stable hash of `text` into range(shards) (the same in every process, unlike hash())."""
    return zlib.crc32(text.encode()) % shards


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix (one deployment of taxsms per prefix), for shard `shard` of `shards`."""

    prefix: str
    shards: int  # always given: 1 on a single Redis, CLUSTER_SHARDS on a cluster (queue.connect.keys_for)
    shard_index: int = 0
    tag: str = dataclasses.field(init=False, repr=False, compare=False)
    """This shard's hash tag; every job key of the shard starts with it (also inside the Lua scripts)."""
    _queued_buckets: int = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.shard_index < self.shards:
            raise ValueError(f"shard {self.shard_index} out of range for {self.shards} shards")
        # Computed once: the dispatcher names a few keys per message from them.
        object.__setattr__(self, "tag", f"{{{self.prefix}:{self.shard_index}}}")
        object.__setattr__(self, "_queued_buckets", max(1024, QUEUED_BUCKETS // self.shards))

    # -- shards ------------------------------------------------------------------------------------------

    @property
    def control(self) -> str:
        """The hash tag of every key outside the job keyspace (templates, units, operators, campaigns, inbox,
        audit, API tokens, the MO stream, rate limits...): one slot, so their transactions and scripts work on
        a cluster too. Little traffic goes there; the job keyspace is what the shards spread."""
        return f"{{{self.prefix}}}"

    def shard(self, index: int) -> Keys:
        """The keys of shard `index`."""
        return dataclasses.replace(self, shard_index=index)

    def every_shard(self) -> Iterator[Keys]:
        return (self.shard(index) for index in range(self.shards))

    def for_phone(self, phone: str) -> Keys:
        """The shard of a (normalised) phone number: its jobs, subscription state and caps."""
        return self.shard(_bucket(phone, self.shards))

    def home(self, job_id: str) -> str:
        """job id -> the shard holding the job (only with several shards; written once, at enqueue)."""
        return f"{self.shard(_bucket(job_id, self.shards)).tag}:home:{job_id}"

    # -- the job keyspace (per shard) --------------------------------------------------------------------

    @property
    def intake(self) -> str:
        """Stream of raw jobs that upstream systems XADD; the dispatchers move them into their lanes.

        There is one, in shard 0, whichever shard this is.
        """
        return f"{self.shard(0).tag}:stream:jobs"

    def lane(self, lane: int) -> str:
        """Stream of jobs ready to send in one priority lane (0 = replies ... 3 = bulk)."""
        return f"{self.tag}:stream:lane{lane}"

    def delayed(self, lane: int) -> str:
        """Sorted set: job id -> release time, jobs waiting for a window, not_before or a retry."""
        return f"{self.tag}:delayed:{lane}"

    def rate(self, link: str) -> str:
        """The shared rate limiter state (GCRA theoretical arrival time) of one SMSC link."""
        return f"{self.control}:rate:{link}"

    def recipient_cap(self, kind: str, phone: str, day: str) -> str:
        """Counter of messages of one kind to one phone on one day (per-recipient caps; begin.lua)."""
        return f"{self.tag}:cap:{kind}:{day}:{phone}"

    @property
    def events(self) -> str:
        """Stream of job state changes, for upstream systems (each reads with its own consumer group)."""
        return f"{self.tag}:stream:events"

    @property
    def dead_letters(self) -> str:
        """Stream of jobs that cannot be sent, each with the reason."""
        return f"{self.tag}:stream:dead"

    @property
    def counts(self) -> str:
        """Hash: job state -> number of jobs in it."""
        return f"{self.tag}:counts"

    @property
    def stats(self) -> str:
        """Hash of counters that are not job states (segments, unknown receipts, resends...)."""
        return f"{self.tag}:stats"

    # -- outside the job keyspace --------------------------------------------------------------------------

    @property
    def workers(self) -> str:
        """Hash: worker consumer name -> JSON {binds, at}, each worker's heartbeat."""
        return f"{self.control}:workers"

    @property
    def mo(self) -> str:
        """Stream of messages taxpayers sent in (MO), for the reply handlers."""
        return f"{self.control}:stream:mo"

    def queued_index(self, job_id: str) -> str:
        """Hash bucket of the shard's queued index: job id -> its stream entry, for jobs not picked up yet."""
        return f"{self.tag}:queued:{_bucket(job_id, self._queued_buckets)}"

    def job(self, job_id: str) -> str:
        """Hash holding one job's record and status."""
        return f"{self.tag}:job:{job_id}"

    def phone_messages(self, phone: str) -> str:
        """List of this shard: the ids of the newest messages to one phone, newest first (begin.lua writes it,
        capped at RECENT_PER_PHONE and kept as long as the job records)."""
        return f"{self.tag}:sent:{phone}"

    def message(self, message_id: str) -> str:
        """SMSC message id -> 'job_id part' (with a TTL) so receipts find their job."""
        return f"{self.tag}:msg:{message_id}"

    def usage(self, month: str) -> str:
        """Hash: '<unit>|<kind>' -> segments sent in month 'YYYY-MM' (accounting)."""
        return f"{self.tag}:usage:{month}"

    def quota_held(self, month: str) -> str:
        """Hash: '<unit>' -> segments of quota kinds claimed in month 'YYYY-MM' and not yet answered: begin.lua
        reserves a job's segments against its unit's quota when it claims it (the job's record keeps them in
        field 'held'), settle.lua turns them into usage or gives them back; it expires with the month."""
        return f"{self.tag}:held:{month}"

    # -- replies (taxsms.replies) ------------------------------------------------------------------------

    @property
    def subscription_state(self) -> str:
        """Hash: phone -> '1' (someone on it subscribed) or '0'; the claim script reads it (see `consent`)."""
        return f"{self.tag}:sub:state"

    def invoice(self, code: str, number: str) -> str:
        """Hash: one invoice's record for authenticity checks (the Redis-backed provider)."""
        return f"{self.control}:invoice:{code}:{number}"

    def ticket(self, ticket_id: str) -> str:
        """Hash: one staff-inbox ticket."""
        return f"{self.control}:ticket:{ticket_id}"

    @property
    def tickets(self) -> str:
        """Sorted set: ticket id -> creation time, for the staff inbox listing."""
        return f"{self.control}:tickets"

    @property
    def ticket_seq(self) -> str:
        """Counter for ticket numbers."""
        return f"{self.control}:ticket:seq"

    @property
    def tickets_by_mo(self) -> str:
        """Hash: MO stream entry id -> ticket id (so a re-processed MO does not open a second ticket)."""
        return f"{self.control}:tickets:by_mo"

    def last_reply(self, phone: str) -> str:
        """The text of the last automatic reply to one phone (with a TTL), to spot a sender echoing it."""
        return f"{self.control}:lastreply:{phone}"

    def business_status(self, reference: str) -> str:
        """Hash: the progress record of one business reference (the Redis-backed status provider)."""
        return f"{self.control}:bizstatus:{reference}"

    def mo_rate(self, phone: str) -> str:
        """Counter of MO messages from one phone in the current abuse-limit window."""
        return f"{self.control}:morate:{phone}"

    # -- governance (taxsms.templates, taxsms.governance) ------------------------------------------------

    @property
    def templates(self) -> str:
        """Hash: template name -> its definition (JSON), loaded from the reviewed template files."""
        return f"{self.control}:templates"

    @property
    def forbidden_terms(self) -> str:
        """The forbidden-content list (JSON), reloadable without restarting anything."""
        return f"{self.control}:review:terms"

    @property
    def units(self) -> str:
        """Hash: unit id -> unit record (JSON): name, level, parent."""
        return f"{self.control}:units"

    @property
    def operators(self) -> str:
        """Hash: operator id -> operator record (JSON): name, unit, roles, status, password hash."""
        return f"{self.control}:operators"

    def campaign(self, campaign_id: str) -> str:
        """Hash: one campaign (a notice to a scope) and its approval state."""
        return f"{self.control}:campaign:{campaign_id}"

    def campaign_jobs(self, campaign_id: str) -> str:
        """List of a campaign's job JSON, held until approval."""
        return f"{self.control}:campaign:{campaign_id}:jobs"

    @property
    def campaigns(self) -> str:
        """Sorted set: campaign id -> creation time."""
        return f"{self.control}:campaigns"

    @property
    def audit(self) -> str:
        """Stream: the append-only, hash-chained audit log."""
        return f"{self.control}:stream:audit"

    @property
    def audit_tip(self) -> str:
        """String 'seq hash': the audit chain's last entry (compare-and-append)."""
        return f"{self.control}:audit:tip"

    @property
    def principals(self) -> str:
        """Hash: principal tag (token:ID, system:NAME) -> JSON: the unit and kinds an upstream sender is bound to."""
        return f"{self.control}:principals"

    @property
    def suspended_units(self) -> str:
        """Hash: unit id -> JSON {reason, by, at}: units suspended by a superior level (they send nothing)."""
        return f"{self.control}:units:suspended"

    @property
    def approved_campaigns(self) -> str:
        """Hash: campaign id -> JSON {unit, kind, creator}: approved campaigns whose jobs the worker admits."""
        return f"{self.control}:campaigns:approved"

    @property
    def cancelled_campaigns(self) -> str:
        """Hash: campaign id -> reason: cancelled campaigns (their jobs not yet sent end rejected)."""
        return f"{self.control}:campaigns:cancelled"

    def quota(self, unit: str) -> str:
        """Monthly segment quota of one unit (absent = no quota); a copy in every shard, for begin.lua."""
        return f"{self.tag}:quota:{unit}"

    @property
    def orphan_receipts(self) -> str:
        """Hash: message id -> a receipt whose message was not (yet) known, kept for later matching."""
        return f"{self.tag}:orphans"

    @property
    def orphan_index(self) -> str:
        """Sorted set: orphan receipt's message id -> when it came (to drop the oldest beyond the cap or ttl)."""
        return f"{self.tag}:orphans:at"

    @property
    def receipt_deadlines(self) -> str:
        """Sorted set: submitted job id -> when it ends `unconfirmed` if no receipt decided it by then."""
        return f"{self.tag}:receipt-deadlines"

    # -- the directory (taxsms.directory, taxsms.replies.subscriptions) ------------------------------------
    # Taxpayer records live in the shard of their taxpayer id; consent and filed marks in the shard of each
    # phone (where the claim script reads them). Records are packed into bucket hashes, not a key each.

    def for_taxpayer(self, taxpayer_id: str) -> Keys:
        """The shard holding a taxpayer's directory record."""
        return self.shard(self.taxpayer_shard(taxpayer_id))

    def taxpayer_shard(self, taxpayer_id: str) -> int:
        """The index of `for_taxpayer(taxpayer_id)` (cheaper, for batches)."""
        return _bucket(taxpayer_id, self.shards)

    def phone_shard(self, phone: str) -> int:
        """The index of `for_phone(phone)` (cheaper, for batches)."""
        return _bucket(phone, self.shards)

    def taxpayer_bucket(self, taxpayer_id: str) -> str:
        """Hash bucket (in the taxpayer's shard): taxpayer id -> packed record (name, unit, phones)."""
        rest, shard = divmod(zlib.crc32(taxpayer_id.encode()), self.shards)  # shard: as for_taxpayer()
        return f"{{{self.prefix}:{shard}}}:tp:{rest % DIRECTORY_BUCKETS}"

    def taxpayer_bucket_at(self, index: int) -> str:
        """Bucket `index` of this shard's taxpayer records (range(DIRECTORY_BUCKETS), for listings)."""
        return f"{self.tag}:tp:{index}"

    def consent(self, phone: str) -> str:
        """Hash bucket (in the phone's shard): phone -> its consent per taxpayer and its append-only trail."""
        rest, shard = divmod(zlib.crc32(phone.encode()), self.shards)  # shard: as for_phone()
        return f"{{{self.prefix}:{shard}}}:consent:{rest % DIRECTORY_BUCKETS}"

    def filed(self, filing: str) -> str:
        """Hash of this shard: taxpayer id -> when it filed `filing` ('VAT:2026-11'); read at claim time."""
        return f"{self.tag}:filed:{filing}"

    @property
    def consent_imports(self) -> str:
        """Hash: import id -> the file (and when, by whom) an import's consent came from; its counter."""
        return f"{self.control}:consent:imports"

    @property
    def staff(self) -> str:
        """Hash: staff code -> staff record (JSON): real name, unit, phone."""
        return f"{self.control}:staff"
