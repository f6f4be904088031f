"""Audiences: the recipients of a campaign taken from the directory, with their true jurisdiction.

`taxpayers --unit county-e1 --subscribed` is every phone of the taxpayers of county-e1 (and the units below
it) whose consent for that taxpayer is on; `--unfiled VAT:2026-11` keeps only those who have not filed that
return; `staff --unit city-x` is every staff member of city-x and below. Each recipient carries the unit the
directory gives it, so the campaign's scope check is made against the directory, not an operator's CSV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from taxsms.directory.deadlines import Filing
from taxsms.directory.directory import Directory
from taxsms.directory.filings import FilingBook
from taxsms.governance.units import UnitTree
from taxsms.privacy import mask_name, mask_phone

SAMPLE = 5


class AudienceKind(StrEnum):
    TAXPAYERS = "taxpayers"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class Audience:
    kind: AudienceKind
    unit: str
    subscribed: bool = False
    unfiled: Filing | None = None

    def __post_init__(self) -> None:
        if self.kind is AudienceKind.STAFF and (self.subscribed or self.unfiled):
            raise ValueError("--subscribed and --unfiled select taxpayers, not staff")

    def __str__(self) -> str:
        text = f"{self.kind} of {self.unit}"
        if self.subscribed:
            text += ", subscribed"
        if self.unfiled:
            text += f", not filed {self.unfiled}"
        return text


@dataclass(slots=True)
class Resolved:
    """(phone, unit) recipients, one per phone, and a masked sample for the approver."""

    recipients: list[tuple[str, str]] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    taxpayers: int = 0


async def resolve(directory: Directory, tree: UnitTree, audience: Audience) -> Resolved:
    """The audience's recipients, from the directory (NotFound for an unknown unit)."""
    units = {unit.id for unit in tree.subtree(audience.unit)}
    result, seen = Resolved(), set()

    def add(phone: str, unit: str, name: str) -> None:
        if phone in seen:
            return
        seen.add(phone)
        result.recipients.append((phone, unit))
        if len(result.sample) < SAMPLE:
            result.sample.append(f"{mask_phone(phone)} {mask_name(name)} ({unit})")

    if audience.kind is AudienceKind.STAFF:
        for member in await directory.staff(units):
            add(member.phone, member.unit, member.name)
        return result
    filings = FilingBook(directory.redis, directory.keys, directory)
    async for batch in directory.taxpayers(units):
        if audience.unfiled is not None:
            filed = await filings.filed(audience.unfiled, (t.id for t in batch))
            batch = [t for t in batch if t.id not in filed]
        consent = await directory.consent.records([p for t in batch for p in t.phones]) if audience.subscribed else {}
        for taxpayer in batch:
            phones = taxpayer.phones
            if audience.subscribed:
                phones = [p for p in phones if p in consent and consent[p].subscribed_for(taxpayer.id)]
            if phones:
                result.taxpayers += 1
            for phone in phones:
                add(phone, taxpayer.unit, taxpayer.name)
    return result
