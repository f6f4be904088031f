"""Every Redis key name taxsms uses, in one place; each carries the configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "taxsms"
CONSUMER_GROUP = "dispatchers"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix (one deployment of taxsms per prefix)."""

    prefix: str = DEFAULT_PREFIX

    @property
    def intake(self) -> str:
        """Stream of accepted jobs, read by the dispatchers' consumer group."""
        return f"{self.prefix}:stream:jobs"

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

    def job(self, job_id: str) -> str:
        """Hash holding one job's record and status."""
        return f"{self.prefix}:job:{job_id}"

    def message(self, message_id: str) -> str:
        """SMSC message id -> 'job_id part' (with a TTL) so receipts find their job."""
        return f"{self.prefix}:msg:{message_id}"

    def orphan_receipt(self, message_id: str) -> str:
        """A receipt whose message id was not (yet) known, kept for later matching."""
        return f"{self.prefix}:orphan:{message_id}"
