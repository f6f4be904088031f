"""Automatic filing reminders (before the deadline) and overdue-filing notices (after it), from the directory.

`plan_reminders` builds one `filing_reminder` job per subscribed phone of every taxpayer that has not filed,
unit by unit, each sent by (and signed with the unit of) the principal planning them and expiring at the
deadline, and simulates sending them (taxsms.dispatcher.planning: the send windows and the link's TPS) to
check that all go out at least `days_before` working days before the deadline. `plan_overdue` builds the
collection office's `overdue_filing` notices once the deadline has passed. Every job carries its principal.
Neither enqueues anything: the caller does, through the admission gate, when the plan is feasible. Job ids
are derived from the return, taxpayer and phone, so planning twice sends nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from taxsms.directory.deadlines import Deadline, Filing, deadline, working_days_before
from taxsms.directory.directory import Directory
from taxsms.directory.filings import FilingBook
from taxsms.directory.records import Taxpayer
from taxsms.dispatcher.planning import Plan, plan
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.errors import Refused
from taxsms.governance.operators import Operator
from taxsms.governance.policy import Principal, operator_principal
from taxsms.governance.scope import check_send
from taxsms.governance.units import Level, UnitTree
from taxsms.holidays import Calendar
from taxsms.queue.jobs import CHINA, Job, Kind, validate_job
from taxsms.templates.catalog import Signature, TemplateCatalog

TAX_NAMES = {"VAT": "增值税", "CIT": "企业所得税", "IIT": "个人所得税", "CT": "消费税", "SURTAX": "附加税费"}
REMINDER_TEMPLATE = "filing_reminder"
OVERDUE_TEMPLATE = "overdue_filing"


class PlanRefused(Refused):
    """A plan that cannot be built (the deadline has not passed yet for overdue notices, ...)."""


@dataclass(slots=True)
class ReminderPlan:
    """The jobs of one run and their predicted timeline."""

    kind: Kind
    sender: Principal  # who sends them: every job carries it, and is admitted for it
    filing: Filing
    deadline: Deadline
    start: float
    send_by: float  # every job must have gone out before this moment
    jobs: list[Job] = field(default_factory=list)
    timeline: Plan | None = None
    taxpayers: int = 0  # taxpayers in the units considered
    filed: int = 0  # of them, already filed: nothing to send
    without_consent: int = 0  # not filed, but no phone subscribed for them
    window_hours: float = 0.0  # send-window time between start and send_by

    @property
    def feasible(self) -> bool:
        return self.timeline is not None and self.timeline.overdue == 0 and self.timeline.late == 0

    @property
    def needed_hours(self) -> float:
        return self.timeline.busy_seconds / 3600 if self.timeline else 0.0


def _job_id(prefix: str, filing: Filing, taxpayer_id: str, phone: str) -> str:
    digest = hashlib.blake2b(f"{taxpayer_id}|{phone}".encode(), digest_size=8).hexdigest()
    return f"{prefix}-{filing.tax}-{filing.period}-{digest}"


def _chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _period_text(filing: Filing) -> str:
    year, _, part = filing.period.partition("-")
    return f"{year}年第{part[1]}季度" if part.startswith("Q") else f"{year}年{int(part)}月"


def open_hours(windows: WindowPolicy, kind: Kind, start: float, end: float) -> float:
    """Hours the send window of `kind` is open between `start` and `end`."""
    window = windows.window(kind)
    if window is None:
        return max(end - start, 0.0) / 3600
    total, now = 0.0, start
    while now < end:
        opening = window.next_opening(now)
        if opening >= end:
            break
        closing = min(window.closes_at(opening), end)
        total += closing - opening
        now = closing + 0.001
    return total / 3600


async def _unfiled(
    directory: Directory, filing: Filing, units: set[str] | None, result: ReminderPlan
) -> list[Taxpayer]:
    """Taxpayers of `units` (all when None) that have not filed `filing`, sorted by unit then id."""
    filings = FilingBook(directory.redis, directory.keys, directory)
    out: list[Taxpayer] = []
    async for batch in directory.taxpayers(units):
        result.taxpayers += len(batch)
        filed = await filings.filed(filing, (t.id for t in batch))
        result.filed += len(filed)
        out += (t for t in batch if t.id not in filed)
    out.sort(key=lambda t: (t.unit, t.id))
    return out


async def plan_reminders(
    directory: Directory,
    tree: UnitTree,
    catalog: TemplateCatalog,
    filing: Filing,
    *,
    sender: Principal,
    days_before: int,
    tps: float,
    windows: WindowPolicy,
    calendar: Calendar,
    clock: Callable[[], float],
    units: set[str] | None = None,
) -> ReminderPlan:
    """Reminder jobs from `sender` (its unit's signature, its operator's name if it is one) for the unfiled,
    subscribed taxpayers of `units` (all when None), and their timeline. Admission refuses those outside the
    sender's scope."""
    due = deadline(filing, calendar)
    last_day = working_days_before(due.day, days_before, calendar)
    send_by = datetime.combine(last_day + timedelta(days=1), time(0), CHINA).timestamp()
    start = clock()
    result = ReminderPlan(Kind.FILING_REMINDER, sender, filing, due, start, send_by)
    pending = await _unfiled(directory, filing, units, result)
    consent = await directory.consent.records([p for t in pending for p in t.phones])
    variables = {"period": _period_text(filing), "tax": TAX_NAMES.get(filing.tax, filing.tax),
                 "deadline": _chinese_date(due.day)}  # fmt: skip
    texts = _Texts(catalog, REMINDER_TEMPLATE, variables, tree, sender.name)
    for taxpayer in pending:
        phones = [p for p in taxpayer.phones if p in consent and consent[p].subscribed_for(taxpayer.id)]
        if not phones:
            result.without_consent += 1
            continue
        text = texts.for_taxpayer(sender.unit, taxpayer.name)
        for phone in phones:
            result.jobs.append(_job(Kind.FILING_REMINDER, "rem", filing, taxpayer, phone, text, due.ends_at, sender,
                                    unit=sender.unit))  # fmt: skip
    result.window_hours = open_hours(windows, Kind.FILING_REMINDER, start, send_by)
    result.timeline = plan(result.jobs, tps=tps, windows=windows, start=start, due=send_by, group=_unit_of)
    return result


async def plan_overdue(
    directory: Directory,
    tree: UnitTree,
    catalog: TemplateCatalog,
    filing: Filing,
    *,
    operator: Operator,
    file_by: date,
    tps: float,
    windows: WindowPolicy,
    calendar: Calendar,
    clock: Callable[[], float],
) -> ReminderPlan:
    """Overdue-filing notices to every phone of the taxpayers under the operator's unit who did not file.

    `operator` is the county collection office's operator, shown in each notice with the unit (OutOfScope
    when it may not send them); `file_by` is the date the notice asks the taxpayer to file by. PlanRefused
    before the deadline has passed.
    """
    check_send(tree, operator, Kind.OVERDUE_FILING, operator.unit)
    due = deadline(filing, calendar)
    start = clock()
    if start < due.ends_at.timestamp():
        raise PlanRefused(f"the deadline of {filing} is {due.day} ({due.reason}): no overdue notices before it ends")
    if file_by <= datetime.fromtimestamp(start, CHINA).date():
        raise PlanRefused(f"--file-by {file_by} is not in the future")
    units = {unit.id for unit in tree.subtree(operator.unit)}
    send_by = datetime.combine(file_by, time(0), CHINA).timestamp()
    result = ReminderPlan(Kind.OVERDUE_FILING, operator_principal(operator), filing, due, start, send_by)
    variables = {"period": _period_text(filing), "tax": TAX_NAMES.get(filing.tax, filing.tax),
                 "deadline": _chinese_date(file_by)}  # fmt: skip
    texts = _Texts(catalog, OVERDUE_TEMPLATE, variables, tree, operator.name)
    for taxpayer in await _unfiled(directory, filing, units, result):
        office = _county_of(tree, taxpayer.unit)
        text = texts.for_taxpayer(office, taxpayer.name)
        for phone in taxpayer.phones:
            expires = datetime.fromtimestamp(send_by, CHINA)
            job = _job(Kind.OVERDUE_FILING, "ovd", filing, taxpayer, phone, text, expires, result.sender, unit=office)
            result.jobs.append(job)
    result.window_hours = open_hours(windows, Kind.OVERDUE_FILING, start, send_by)
    result.timeline = plan(result.jobs, tps=tps, windows=windows, start=start, due=send_by, group=_unit_of)
    return result


class _Texts:
    """The template rendered once per signing unit, with the taxpayer's name put in afterwards (a million
    renders of the sandboxed template would dominate planning). Names never hold 【】 (records refuse them)."""

    _NAME = "\x00"

    def __init__(self, catalog: TemplateCatalog, template: str, variables: dict[str, str], tree: UnitTree,
                 operator_name: str) -> None:  # fmt: skip
        self.catalog, self.template, self.variables, self.tree = catalog, template, variables, tree
        self.operator_name = operator_name
        self._by_unit: dict[str, str] = {}

    def for_taxpayer(self, unit: str, name: str) -> str:
        text = self._by_unit.get(unit)
        if text is None:
            signature = Signature(self.tree.get(unit).sms_signature, self.operator_name)
            text = self.catalog.render(self.template, {**self.variables, "name": self._NAME}, signature).text
            self._by_unit[unit] = text
        return text.replace(self._NAME, name)


def _county_of(tree: UnitTree, unit: str) -> str:
    """The county a unit belongs to (a sub-bureau's parent): its collection office sends overdue notices."""
    return tree.parent_of(unit) if tree.level_of(unit) is Level.SUB_BUREAU else unit


def _unit_of(job: Job) -> str:
    return job.recipient_unit


def _job(
    kind: Kind, prefix: str, filing: Filing, taxpayer: Taxpayer, phone: str, text: str, expires: datetime,
    sender: Principal, *, unit: str,
) -> Job:  # fmt: skip
    return validate_job(
        Job(
            id=_job_id(prefix, filing, taxpayer.id, phone),
            kind=kind,
            to=phone,
            text=text,
            unit=unit,
            operator=sender.operator,
            principal=sender.tag,
            recipient_unit=taxpayer.unit,
            taxpayer_id=taxpayer.id,
            period=filing.period,
            expires_at=expires,
            meta={"filing": str(filing)},
        )
    )
