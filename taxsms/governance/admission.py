"""The admission gate every sending path calls: the policy (pure) over a cached registry, plus the audit.

`Gate.admit_all(jobs, principal, path)` admits a batch against the current snapshot (reloaded when older
than `max_age` seconds), records one audit entry for what was accepted and one for what was refused (who,
unit, path, counts and the first reasons), and returns (admitted jobs, refusals). The worker's
admission (taxsms.dispatcher.admission) calls `Gate.check` job by job on the snapshot it loads per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from taxsms.governance.audit import Action, AuditLog
from taxsms.governance.policy import (
    Principal,
    PrincipalKind,
    Refused,
    Registry,
    admit,
    readmit,
)
from taxsms.governance.registry import PrincipalBook, load_registry
from taxsms.queue.jobs import Job, JobError
from taxsms.queue.keys import DEFAULT_PREFIX, Keys
from taxsms.templates.catalog import Signature

if TYPE_CHECKING:
    from taxsms.directory.recipients import RecipientUnits

SHOWN = 10  # refusals named in one audit entry
MIN_REFRESH_S = 0.05  # an unknown principal reloads the snapshot at most this often (a campaign just approved)
Verdict = Job | Refused


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused job: its id (as given) and why."""

    job_id: str
    error: JobError

    @property
    def code(self) -> str:
        return self.error.code if isinstance(self.error, Refused) else "invalid_job"

    def summary(self) -> dict[str, str]:
        return {"id": self.job_id, "field": self.error.field, "code": self.code, "reason": self.error.reason}


class Gate:
    """Admission against a registry snapshot no older than `max_age` seconds."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        audit: AuditLog | None = None,
        max_age: float = 1.0,
        directory: RecipientUnits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self._audit = audit
        self.max_age = max_age
        if directory is None and redis is not None:
            from taxsms.directory.recipients import RecipientUnits  # the directory's records (it uses governance)

            directory = RecipientUnits(redis, keys)
        self.directory = directory
        self._clock = clock
        self._registry: Registry | None = None
        self._loaded_at = -float("inf")
        self.stale = False  # check() met a principal the snapshot may be too old to know
        self._refused: list[tuple[Job, JobError]] = []

    @classmethod
    def fixed(cls, registry: Registry) -> Gate:
        """A gate over one snapshot that never reloads (no store): for pure uses and tests."""
        gate = cls(None, Keys(DEFAULT_PREFIX, 1), max_age=float("inf"))  # type: ignore[arg-type]
        gate._registry, gate._loaded_at = registry, time.monotonic()
        return gate

    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            self._audit = AuditLog(self.redis, self.keys)
        return self._audit

    async def registry(self, *, fresh: bool = False) -> Registry:
        """The snapshot in force (reloaded if `fresh` or older than max_age)."""
        if fresh or self._registry is None or self._clock() - self._loaded_at > self.max_age:
            lookup = self.directory.units if self.directory is not None else None
            self._registry = await load_registry(self.redis, self.keys, directory=lookup)
            self._loaded_at = self._clock()
            self.stale, self._refused = False, []  # what was decided on the old snapshot is decided again
        return self._registry

    @property
    def current(self) -> Registry | None:
        """The last snapshot loaded (None before the first)."""
        return self._registry

    async def registered(self, tag: str) -> Principal:
        """The token or system `tag` as it is registered (unit, kinds, recipient units, keeper): the principal
        the worker admits its jobs again for, so intake decides as the worker will. From the last snapshot
        loaded, else (none loaded, or registered since) from its record: one HGET. Refused when it has no
        record (revoked, or issued before principals were recorded)."""
        found = self._registry.principals.get(tag) if self._registry is not None else None
        if found is None:
            found = await PrincipalBook(self.redis, self.keys).get(tag)
        if found is None:
            why = f"{tag} is not a registered principal (revoked, or issued before principals were recorded)"
            raise Refused("principal", UNKNOWN, why)
        return found

    def admit(self, job: Job, principal: Principal | None) -> Job:
        """admit() against the current snapshot (load one first with registry())."""
        assert self._registry is not None, "load the registry first"
        return admit(job, principal, self._registry)

    async def prepare(self, jobs: Sequence[Job]) -> Registry:
        """The snapshot in force, and the directory's answers for those of `jobs` that leave out their
        recipient's unit (one lookup for the batch, see taxsms.directory.recipients): call it before admit()
        on a batch."""
        registry = await self.registry()
        if self.directory is not None:
            await self.directory.prefetch_jobs(jobs)
        return registry

    async def admit_all(
        self, jobs: Iterable[Job], principal: Principal | None, path: str
    ) -> tuple[list[Job], list[Refusal]]:
        """Admit a batch for one principal; refusals are audited here (acceptance: call record_sent)."""
        jobs = list(jobs)
        registry = await self.prepare(jobs)
        admitted, refused = [], []
        for job in jobs:
            try:
                admitted.append(admit(job, principal, registry))
            except Refused as error:
                refused.append(Refusal(job.id, error))
        await self.record_refused(principal.tag if principal else "anonymous", path, refused)
        return admitted, refused

    def check(self, job: Job, *, raw: bool) -> Job:
        """The worker's admission of one job (pure, on the current snapshot): admitted again for the
        principal it names (a job naming none is refused; raw intake entries must name a registered system),
        or Refused, remembered for flush_refusals(). StaleRegistry when it names a principal the snapshot
        does not know and the snapshot is not brand new: the worker reloads it and decides again (a campaign
        approved a moment ago)."""
        registry = self._registry
        assert registry is not None, "load the registry first"
        verdict = _recheck(job, raw, registry)
        if not isinstance(verdict, Refused):
            return verdict
        if verdict.code == UNKNOWN and self._clock() - self._loaded_at >= MIN_REFRESH_S:
            self.stale = True
            raise StaleRegistry(verdict.field, verdict.code, verdict.reason)
        self._refused.append((job, verdict))
        raise verdict

    def readmit(self, job: Job) -> Job:
        """A job queued before (a dead letter requeued) admitted again for the principal it names, on the
        current snapshot; Refused when it names none, one the registry does not know, or the rules refuse it."""
        assert self._registry is not None, "load the registry first"
        verdict = _recheck(job, False, self._registry)
        if isinstance(verdict, Refused):
            raise verdict
        return verdict

    async def flush_refusals(self) -> None:
        """One audit entry per principal for the jobs check() refused since the last flush."""
        refused, self._refused = self._refused, []
        if refused:
            await self.audit_refusals(refused, "worker")

    def signature(self, job: Job) -> Signature:
        """Who a template job is signed by: the unit's registered signature and the operator's real name."""
        registry = self._registry
        if registry is None or job.unit not in registry.tree:
            return Signature(job.unit, job.operator)
        return Signature(registry.signature(job.unit), registry.operator_name(job.operator) or job.operator)

    def review_rendered(self, text: str) -> None:
        """Content review of a template's rendered text; Refused naming the terms."""
        if self._registry is not None and not self._registry.is_clean(text):
            found = "; ".join(f"{m.term} ({m.category})" for m in self._registry.review.check(text))
            raise Refused("text", "content", f"forbidden content in the rendered template: {found}")

    async def audit_refusals(self, refused: Sequence[tuple[Job, JobError]], path: str) -> None:
        """One audit entry per principal the jobs name for those refused on `path` (the worker's admission,
        a dead-letter requeue)."""
        by_actor: dict[str, list[Refusal]] = {}
        for job, error in refused:
            by_actor.setdefault(job.principal or "anonymous", []).append(Refusal(job.id, error))
        for actor, refusals in by_actor.items():
            await self.record_refused(actor, path, refusals)

    async def record_sent(self, actor: str, unit: str, path: str, accepted: int, duplicates: int = 0) -> None:
        if accepted or duplicates:
            details = {"path": path, "unit": unit, "accepted": accepted, "duplicates": duplicates}
            await self.audit.append(actor, Action.SEND, unit, details)

    async def record_refused(self, actor: str, path: str, refused: list[Refusal], unit: str = "") -> None:
        if not refused:
            return
        codes: dict[str, int] = {}
        for refusal in refused:
            codes[refusal.code] = codes.get(refusal.code, 0) + 1
        details = {
            "path": path,
            "refused": len(refused),
            "codes": codes,
            "first": [r.summary() for r in refused[:SHOWN]],
        }
        if unit:
            details["unit"] = unit
        await self.audit.append(actor, Action.SEND_REFUSED, unit or path, details)


UNKNOWN = "unknown_principal"
ANONYMOUS = (
    "the job names no principal: every job must name its sender: taxsms enqueue --as/--token, the API, a "
    "campaign, or a registered system"
)


class StaleRegistry(Refused):
    """A job naming a principal the snapshot does not know yet: reload the registry and decide again."""


def _recheck(job: Job, raw: bool, registry: Registry) -> Verdict:
    try:
        if raw and not job.principal.startswith(f"{PrincipalKind.SYSTEM}:"):
            raise Refused(
                "principal",
                "anonymous",
                "a raw intake entry must name its registered system: principal = system:NAME (taxsms system add)",
            )
        if not job.principal:
            raise Refused("principal", "anonymous", ANONYMOUS)
        principal = registry.resolve(job.principal)
        if principal is None:
            raise Refused(
                "principal", UNKNOWN, f"{job.principal!r} is not a registered principal (revoked, or not approved)"
            )
        return readmit(job, principal, registry)
    except Refused as error:
        return error
