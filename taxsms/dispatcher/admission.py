"""Admission: what the worker does with one stream entry before it may be claimed, decided without I/O.

parse → admit (the admission policy, taxsms.governance.policy, against the gate's registry snapshot) → render →
encode → hold: every entry gets exactly one verdict, and no entry, however hostile, makes
`decide` raise: whatever a step refuses (or crashes on) becomes a Refused verdict naming the step and the
reason, for the dead-letter stream. The worker then acts on the verdicts in batches (dead-letter, route,
record the held, claim the ready).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from taxsms.channels.smpp import EncodedMessage, encode_message
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.governance.admission import Gate, StaleRegistry
from taxsms.holidays import NoHolidayData
from taxsms.queue.jobs import CHINA, MAX_TEXT_LENGTH, Job, JobError, Kind, State, normalise_mobile, parse_job
from taxsms.queue.store import Settlement, StreamEntry
from taxsms.templates.catalog import TemplateCatalog, TemplateError

log = logging.getLogger(__name__)
#: A job whose window skips days off in a year without holiday data waits, decided again this often: it goes
#: once a calendar covering that year is given (a newer chinese_calendar, or calendar_file; then a restart).
CALENDAR_RECHECK_S = 600.0


class Refused(msgspec.Struct, frozen=True):
    """An entry that can never be sent: dead-letter it with `error`."""

    entry: StreamEntry
    error: JobError


class Raw(msgspec.Struct, frozen=True):
    """A valid job from the raw intake stream, to be moved into its lane."""

    entry: StreamEntry
    job: Job


class Held(msgspec.Struct, frozen=True):
    """A job that may not go now: expired, or delayed to its release time (the settlement says which)."""

    settlement: Settlement


class Ready(msgspec.Struct, frozen=True):
    """A job that may be claimed and sent now, encoded once."""

    entry: StreamEntry
    job: Job
    message: EncodedMessage


Verdict = Refused | Raw | Held | Ready


class _Recipient(msgspec.Struct):
    """What a raw entry's directory lookup needs (decoded without the job's full validation)."""

    to: str = ""
    kind: str = ""
    recipient_unit: str = ""
    taxpayer_id: str = ""


_recipient = msgspec.json.Decoder(_Recipient)


def normalised(phone: str) -> str:
    """The phone as parse_job stores it (the directory's key), or as given if it is not a mobile number."""
    try:
        return normalise_mobile(phone)
    except JobError:
        return phone


def settlement(entry: StreamEntry, job: Job, outcome: str, detail: str = "", **extra: Any) -> Settlement:
    """The outcome of `job`'s attempt, carrying what settle.lua needs to record it (and to release it again)."""
    return Settlement(
        job.id, entry.stream, entry.entry_id, outcome, detail, lane=int(job.lane), payload=entry.payload,
        expires_at=job.expires_ts, **extra,
    )  # fmt: skip


def refused(entry: StreamEntry, error: JobError, job_id: str | None = None) -> Refused:
    """A Refused verdict, naming the job when it is known (not when its id is what is wrong)."""
    known = "" if error.field == "id" else entry.job_id if job_id is None else job_id
    return Refused(StreamEntry(entry.stream, entry.entry_id, known, entry.payload), error)


class Admission:
    """Decides each entry's verdict from the job alone, the template catalog, the send windows and the time."""

    def __init__(
        self, catalog: Callable[[], TemplateCatalog], windows: WindowPolicy, intake_stream: str, gate: Gate
    ) -> None:
        """`catalog` returns the current catalog (the worker reloads it); `gate` holds the registry snapshot
        (the worker loads it before each batch)."""
        self._catalog = catalog
        self.windows = windows
        self._intake = intake_stream
        self.gate = gate
        self._ref = 0
        self._complained_at = float("-inf")

    async def prepare(self, entries: Sequence[StreamEntry]) -> None:
        """Before deciding a batch: the gate's snapshot, and the directory's units for the raw intake entries
        that leave out their recipient's unit (one lookup per batch; entries of the lanes were admitted once
        already, with their unit filled in, and need none)."""
        await self.gate.registry()
        if self.gate.directory is None:
            return
        wanted = []
        for entry in entries:
            if entry.stream == self._intake:
                try:
                    recipient = _recipient.decode(entry.payload)
                except (msgspec.DecodeError, RecursionError):  # poison: invalid, or nested too deep
                    continue  # decide() refuses it, naming the step
                if not recipient.recipient_unit and recipient.kind != Kind.REPLY and recipient.to:
                    wanted.append((normalised(recipient.to), recipient.taxpayer_id))
        await self.gate.directory.prefetch(wanted)

    def decide(self, entry: StreamEntry, now: float) -> Verdict:
        """The verdict on one entry; never raises (an unexpected error refuses the entry, naming the step)."""
        step, job_id = "parse", None
        try:
            job = parse_job(entry.payload)
            job_id = job.id
            step = "admit"
            raw = entry.stream == self._intake
            try:
                job = self.gate.check(job, raw=raw)
            except StaleRegistry:
                raise
            except JobError as error:
                if raw:  # never accepted: dead-lettered with the reason
                    raise
                # accepted once, refused now (a suspension, a cancel, the term list): it ends rejected
                return Held(settlement(entry, job, State.REJECTED, f"{error.field}: {error.reason}"))
            if raw:
                return Raw(entry, job)
            step = "render"
            job = self.render(job)
            step = "encode"
            message = self.encode(job)
            step = "hold"
            held = self.hold(entry, job, now)
        except JobError as error:
            return refused(entry, error, job_id)
        except Exception as exc:  # one poison entry must not stop the worker
            log.warning("entry %s of %s refused: %s failed with %r", entry.entry_id, entry.stream, step, exc)
            return refused(entry, JobError("job", f"{step} failed: {type(exc).__name__}: {exc}"[:500]), job_id)
        return Held(held) if held is not None else Ready(entry, job, message)

    def render(self, job: Job) -> Job:
        """A template job with its final text: 【unit】body (and the operator where the template says)."""
        if not job.template:
            return job
        catalog = self._catalog()
        try:
            rendered = catalog.render(job.template, job.vars, self.gate.signature(job))
        except TemplateError as error:
            field = "template" if not error.variable else "vars"
            raise JobError(field, str(error)) from None
        if rendered.text and catalog.get(job.template).kind != job.kind:
            raise JobError("template", f"template {job.template!r} is for {catalog.get(job.template).kind}")
        if len(rendered.text) > MAX_TEXT_LENGTH:
            raise JobError("vars", f"renders to {len(rendered.text)} characters, more than {MAX_TEXT_LENGTH}")
        self.gate.review_rendered(rendered.text)
        return msgspec.structs.replace(job, text=rendered.text)

    def encode(self, job: Job) -> EncodedMessage:
        """The job's text as submit_sm parts (each multi-part message gets the next 8-bit reference)."""
        self._ref = (self._ref + 1) & 0xFF
        try:
            return encode_message(job.text, self._ref)
        except ValueError as exc:
            raise JobError("text", str(exc)) from None

    def hold(self, entry: StreamEntry, job: Job, now: float) -> Settlement | None:
        """Why `job` may not go now (expired, or a Settlement delaying it to its release time), else None."""
        expires = job.expires_ts
        if expires and now >= expires:
            return settlement(entry, job, State.EXPIRED, f"expired at {_china(expires)}")
        try:
            release = self.windows.release_time(job, now)
        except NoHolidayData as missing:  # never guessed at: it waits, and is decided again later
            release = min(now + CALENDAR_RECHECK_S, expires or float("inf"))  # expired then, if still unknown
            self._complain(missing, now)
            detail = f"waits for holiday data, decided again at {_china(release)}: {missing}"
            return settlement(entry, job, State.DELAYED, detail[:500], release_at=release)
        if release <= now:
            return None
        if expires and release >= expires:
            detail = f"its send window opens at {_china(release)}, after it expires at {_china(expires)}"
            return settlement(entry, job, State.EXPIRED, detail)
        reason = "not_before" if release == job.not_before_ts else "send window"
        detail = f"waits for its {reason} until {_china(release)}"
        return settlement(entry, job, State.DELAYED, detail, release_at=release)

    def _complain(self, missing: NoHolidayData, now: float) -> None:
        """Log the missing holiday data once per CALENDAR_RECHECK_S (every job it holds would say the same)."""
        if now - self._complained_at >= CALENDAR_RECHECK_S or now < self._complained_at:
            self._complained_at = now
            log.error("%s: the jobs whose send window skips days off wait until a calendar covers it", missing)


def _china(ts: float) -> str:
    return datetime.fromtimestamp(ts, CHINA).strftime("%Y-%m-%d %H:%M:%S")
