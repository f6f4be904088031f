"""Where invoice checks and status queries are answered: a Redis table loaded from CSV, or an HTTP service.

A provider never raises into the reply service: a lookup it cannot answer comes back as `unavailable`
with a text for the taxpayer.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from redis.asyncio import Redis

from taxsms.queue.keys import Keys

log = logging.getLogger(__name__)
LOAD_CHUNK = 5000
UNAVAILABLE_TEXT = "查询服务暂时不可用，请稍后再试或拨打12366咨询。"


class Lookup(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class InvoiceResult:
    """An invoice check's answer; `fields` holds what the source knows (date, amount, state...)."""

    lookup: Lookup
    code: str
    number: str
    fields: Mapping[str, str] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True, slots=True)
class StatusResult:
    """A status query's answer; `status` is the progress text to send (e.g. '已受理，审核中')."""

    lookup: Lookup
    reference: str
    status: str = ""
    message: str = ""


class Provider(Protocol):
    """Answers invoice checks and status queries."""

    async def lookup_invoice(self, code: str, number: str) -> InvoiceResult: ...

    async def lookup_status(self, reference: str) -> StatusResult: ...


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a CSV load did: rows stored, and (line number, reason) for each row skipped."""

    loaded: int
    errors: list[tuple[int, str]]


def _decode(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode("utf-8", "replace") for k, v in raw.items()}


def _rows(path: str | Path | Iterable[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by lower-cased header) for a CSV file path or an iterable of lines."""
    if isinstance(path, str | Path):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            yield from _rows(list(fh))
        return
    reader = csv.DictReader(path)
    if reader.fieldnames:
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
    for row in reader:
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}


class RedisProvider:
    """Looks invoices and business references up in Redis hashes loaded from CSV exports."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def lookup_invoice(self, code: str, number: str) -> InvoiceResult:
        try:
            raw = await self.redis.hgetall(self.keys.invoice(code, number))
        except Exception as error:  # Redis down: the taxpayer is told to retry, the batch goes on
            log.warning("invoice lookup failed: %s", error)
            return InvoiceResult(Lookup.UNAVAILABLE, code, number, message=UNAVAILABLE_TEXT)
        if not raw:
            return InvoiceResult(Lookup.NOT_FOUND, code, number)
        return InvoiceResult(Lookup.FOUND, code, number, _decode(raw))

    async def lookup_status(self, reference: str) -> StatusResult:
        try:
            raw = await self.redis.hgetall(self.keys.business_status(reference))
        except Exception as error:
            log.warning("status lookup failed: %s", error)
            return StatusResult(Lookup.UNAVAILABLE, reference, message=UNAVAILABLE_TEXT)
        if not raw:
            return StatusResult(Lookup.NOT_FOUND, reference)
        return StatusResult(Lookup.FOUND, reference, _decode(raw).get("status", ""))

    async def load_invoices_csv(self, path: str | Path | Iterable[str]) -> LoadResult:
        """Store invoices from CSV with columns code,number[,date,amount,state,...] (extra columns kept)."""
        return await self._load(path, ("code", "number"), self._invoice_key)

    async def load_status_csv(self, path: str | Path | Iterable[str]) -> LoadResult:
        """Store business progress from CSV with columns reference,status[,updated_at,...]."""
        return await self._load(path, ("reference", "status"), self._status_key)

    def _invoice_key(self, row: dict[str, str]) -> str | None:
        code, number = row.get("code", ""), row.get("number", "")
        valid = number.isdigit() and (
            (len(number) == 8 and len(code) in (10, 12) and code.isdigit()) or (len(number) == 20 and not code)
        )
        return self.keys.invoice(code, number) if valid else None

    def _status_key(self, row: dict[str, str]) -> str | None:
        reference = row.get("reference", "").upper()
        return self.keys.business_status(reference) if reference and row.get("status") else None

    async def _load(self, path: str | Path | Iterable[str], required: tuple[str, ...], key_of: Any) -> LoadResult:
        loaded, errors, pending = 0, [], 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for line, row in _rows(path):
                key = key_of(row)
                if key is None:
                    errors.append((line, f"invalid or missing {'/'.join(required)}"))
                    continue
                pipe.hset(key, mapping={k: v for k, v in row.items() if v})
                loaded += 1
                pending += 1
                if pending >= LOAD_CHUNK:
                    await pipe.execute()
                    pending = 0
            if pending:
                await pipe.execute()
        return LoadResult(loaded, errors)


class HttpProvider:
    """Asks an HTTP service: GET {base}/invoice?code=..&number=.. and GET {base}/status?reference=...

    200 with a JSON object: found (its string values are the fields; 'status' for a status query);
    404: not found; anything else, a timeout or a connection error: unavailable.
    """

    def __init__(self, base_url: str, *, timeout_s: float = 3.0, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._own_session = session is None

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> HttpProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def lookup_invoice(self, code: str, number: str) -> InvoiceResult:
        found = await self._get("/invoice", {"code": code, "number": number})
        if found is None:
            return InvoiceResult(Lookup.UNAVAILABLE, code, number, message=UNAVAILABLE_TEXT)
        if found is False:
            return InvoiceResult(Lookup.NOT_FOUND, code, number)
        return InvoiceResult(Lookup.FOUND, code, number, found)

    async def lookup_status(self, reference: str) -> StatusResult:
        found = await self._get("/status", {"reference": reference})
        if found is None:
            return StatusResult(Lookup.UNAVAILABLE, reference, message=UNAVAILABLE_TEXT)
        if found is False:
            return StatusResult(Lookup.NOT_FOUND, reference)
        return StatusResult(Lookup.FOUND, reference, found.get("status", ""))

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, str] | bool | None:
        """The JSON object's string fields, False for 404, None when the service cannot answer."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(self.base_url + path, params=params, timeout=self._timeout) as response:
                if response.status == 404:
                    return False
                if response.status != 200:
                    log.warning("lookup %s: HTTP %d", path, response.status)
                    return None
                body = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            log.warning("lookup %s failed: %r", path, error)
            return None
        if not isinstance(body, dict):
            return None
        return {str(k): str(v) for k, v in body.items() if v is not None}
