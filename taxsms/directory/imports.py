"""`taxsms directory import FILE`: taxpayers or staff from a CSV file, in chunks, with line-numbered errors.

The header row says which: `taxpayer_id,name,unit,phones` or `staff_code,name,unit,phone`. A taxpayer's
`phones` cell lists `phone:role[:subscribed]` separated by ';', e.g. `13800138000:legal:1;13900139000:finance`
(roles legal, finance, agent; subscribed 1/0, or absent to leave the consent as it is). A row for a taxpayer
already in the directory replaces its record. Every consent change is recorded in the phone's trail with
the import (the file) and the row; a phone that opted out by SMS stays out.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from taxsms.csvrows import RefusedRows
from taxsms.directory.directory import Change, Directory, Origin
from taxsms.directory.ids import TaxpayerIdError
from taxsms.directory.records import DirectoryError, Staff, phone, staff, taxpayer
from taxsms.errors import InvalidInput
from taxsms.governance.units import UnitTree
from taxsms.replies.subscriptions import How, parse_flag

CHUNK = 5000
TAXPAYER_HEADER = ("taxpayer_id", "name", "unit", "phones")
STAFF_HEADER = ("staff_code", "name", "unit", "phone")


@dataclass(slots=True)
class ImportReport(RefusedRows):
    """What an import did: its kind, the rows read and stored, the rows refused."""

    kind: str = ""
    rows: int = 0
    stored: int = 0


class ImportFileError(InvalidInput):
    """A file that cannot be imported at all (no known header)."""


def parse_phones(cell: str) -> tuple[list[tuple[str, str]], dict[str, bool]]:
    """'13800138000:legal:1;13900139000:finance' -> ([(phone, role)...], {normalised phone: subscribed})."""
    contacts, consent = [], {}
    for item in filter(None, (part.strip() for part in cell.split(";"))):
        number, _, rest = item.partition(":")
        role, _, flag = rest.partition(":")
        if not role:
            raise DirectoryError(f"phone {item!r}: expected phone:role[:subscribed]")
        contacts.append((number, role))
        if flag.strip():
            consent.setdefault(phone(number), parse_flag(flag))
    if not contacts:
        raise DirectoryError("no phone: expected phone:role[:subscribed] items separated by ';'")
    return contacts, consent


async def import_file(
    directory: Directory,
    tree: UnitTree,
    path: str | Path,
    *,
    operator: str = "",
    clock: Callable[[], float] = time.time,
    chunk: int = CHUNK,
) -> ImportReport:
    """Import taxpayers or staff from `path` (kind by header row); bad rows are skipped and reported."""
    report = ImportReport()
    at = clock()
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = tuple(cell.strip().lower() for cell in next(reader, []))
        if header[:4] == TAXPAYER_HEADER:
            report.kind = "taxpayers"
            import_id = await directory.consent.new_import(str(path), operator, at)
            await _taxpayers(directory, tree, reader, import_id, at, chunk, report)
        elif header[:4] == STAFF_HEADER:
            report.kind = "staff"
            await _staff(directory, tree, reader, report)
        else:
            raise ImportFileError(
                f"{path}: the first row must be the header {','.join(TAXPAYER_HEADER)} or {','.join(STAFF_HEADER)}"
            )
    return report


def _rows(reader: csv._reader, header: tuple[str, ...], report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """(line number, row) for each non-blank row, counted; a row with too few columns is reported instead."""
    for row in reader:
        if not row or not any(row):
            continue
        report.rows += 1
        if len(row) < len(header):
            report.error(reader.line_num, f"expected {','.join(header)}, got {len(row)} columns")
            continue
        yield reader.line_num, row


async def _taxpayers(
    directory: Directory, tree: UnitTree, reader: csv._reader, import_id: str, at: float, chunk: int,
    report: ImportReport,
) -> None:  # fmt: skip
    changes: list[Change] = []
    writing = _Writer(directory, at, report)
    for line, row in _rows(reader, TAXPAYER_HEADER, report):
        try:
            contacts, consent = parse_phones(row[3])
            record = taxpayer(tree, row[0], row[1], row[2], contacts)
        except (DirectoryError, TaxpayerIdError, ValueError) as error:
            report.error(line, str(error))
            continue
        changes.append(Change(record, consent, Origin(How.IMPORT, import_id, str(line))))
        if len(changes) >= chunk:
            await writing.write(changes)
            changes = []
    await writing.write(changes)
    await writing.finish()


class _Writer:
    """Writes chunks while the next one is parsed: one chunk in flight at a time, so rows stay in order."""

    def __init__(self, directory: Directory, at: float, report: ImportReport) -> None:
        self.directory, self.at, self.report = directory, at, report
        self._pending: asyncio.Task[int] | None = None

    async def write(self, changes: list[Change]) -> None:
        await self.finish()
        if changes:
            self._pending = asyncio.create_task(self.directory.apply(changes, self.at))
            await asyncio.sleep(0)  # let it send its first request before the caller parses on

    async def finish(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.report.stored += await pending


async def _staff(directory: Directory, tree: UnitTree, reader: csv._reader, report: ImportReport) -> None:
    members: dict[str, Staff] = {}
    for line, row in _rows(reader, STAFF_HEADER, report):
        try:
            member = staff(tree, row[0], row[1], row[2], row[3])
        except DirectoryError as error:
            report.error(line, str(error))
            continue
        members[member.code] = member
    await directory.put_staff(list(members.values()))
    report.stored = len(members)
