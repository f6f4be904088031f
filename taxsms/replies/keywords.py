"""What a taxpayer's text message asks for: subscribe, unsubscribe, invoice check, status query, or free text.

Pure functions, no I/O. Matching ignores case, full/half width (NFKC) and whitespace:
'ＫＴ', ' kt ' and 'Kt' all subscribe. Invoice checks: 'FP 041001900111 12345678', the two numbers alone
with common separators (spaces, commas, dashes, '#', '+', newlines), or a 20-digit fully digital (全电)
invoice number alone. A message starting with FP/发票/查验 that does not parse is answered with help, except
a question in words ('发票丢了怎么办', no digits), which goes to the staff as free text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

SUBSCRIBE_WORDS = frozenset({"KT", "开通", "订阅", "开通短信"})
UNSUBSCRIBE_WORDS = frozenset({"TD", "T", "QX", "取消", "退订", "取消订阅", "退订短信", "取消短信"})
INVOICE_PREFIXES = ("发票查验", "查验发票", "发票", "查验", "FP")
STATUS_PREFIXES = ("查询进度", "进度查询", "进度", "CX")

MIN_INVOICE_DIGITS = 16
_TRAILING_PUNCT = ".。!！?？~～"
_SEPARATORS = r"[\s,，、;；:：\-—#+/|._]+"
_SPLIT = re.compile(_SEPARATORS)
_ONLY_NUMBERS = re.compile(rf"(?:{_SEPARATORS})?\d+(?:{_SEPARATORS}\d+)*(?:{_SEPARATORS})?")
_TAXPAYER_ID = re.compile(r"[0-9A-Z]{15,20}")
_REFERENCE = re.compile(r"[0-9A-Z][0-9A-Z\-]{3,39}")
_REFERENCE_CHARS = re.compile(r"[0-9A-Z\-]+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Subscribe:
    """开通: subscribe this phone to the tax SMS service (optionally for one taxpayer id)."""

    taxpayer_id: str = ""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """退订: stop the tax SMS service for this phone."""


@dataclass(frozen=True, slots=True)
class InvoiceCheck:
    """发票真伪查询: invoice code (10 or 12 digits; empty for a 20-digit 全电 invoice) and number."""

    code: str
    number: str


@dataclass(frozen=True, slots=True)
class InvoiceHelp:
    """An invoice check that could not be parsed: answer with the expected format."""


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """Progress of business accepted online, by its reference."""

    reference: str


@dataclass(frozen=True, slots=True)
class StatusHelp:
    """'CX' or '进度' without a reference: answer with the expected format."""


@dataclass(frozen=True, slots=True)
class FreeText:
    """Anything else: a consultation, report or complaint for the staff inbox."""

    text: str


Command = Subscribe | Unsubscribe | InvoiceCheck | InvoiceHelp | StatusQuery | StatusHelp | FreeText


def normalise(text: str) -> str:
    """NFKC (full width -> half width), upper case, whitespace runs collapsed to one space, stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().upper()


def classify(text: str) -> Command:
    """The command `text` carries (FreeText, with the original text stripped, when it is none of the others)."""
    flat = normalise(text)
    compact = flat.replace(" ", "").rstrip(_TRAILING_PUNCT)
    if compact in SUBSCRIBE_WORDS:
        return Subscribe()
    if compact in UNSUBSCRIBE_WORDS:
        return Unsubscribe()
    subscribe = _subscribe_with_id(flat)
    if subscribe is not None:
        return subscribe
    invoice = _invoice(flat, compact)
    if invoice is not None:
        return invoice
    status = _status(flat, compact)
    if status is not None:
        return status
    return FreeText(text.strip())


def parse_invoice_numbers(text: str) -> InvoiceCheck | None:
    """'041001900111 12345678' (any separators) or a 20-digit number alone -> InvoiceCheck, else None."""
    parts = [part for part in _SPLIT.split(text.strip()) if part]
    if not all(part.isdigit() for part in parts):
        return None
    if len(parts) == 2 and len(parts[0]) in (10, 12) and len(parts[1]) == 8:
        return InvoiceCheck(parts[0], parts[1])
    if len(parts) == 2 and len(parts[1]) in (10, 12) and len(parts[0]) == 8:
        return InvoiceCheck(parts[1], parts[0])  # number first: the order is obvious from the lengths
    if len(parts) == 1 and len(parts[0]) == 20:
        return InvoiceCheck("", parts[0])
    return None


def _subscribe_with_id(flat: str) -> Subscribe | None:
    for word in ("KT", "开通"):
        if flat.startswith(word):
            rest = _SPLIT.sub("", flat[len(word) :])
            if _TAXPAYER_ID.fullmatch(rest):
                return Subscribe(rest)
    return None


def _invoice(flat: str, compact: str) -> InvoiceCheck | InvoiceHelp | None:
    for prefix in INVOICE_PREFIXES:
        if compact.startswith(prefix):
            rest = _after_prefix(flat, prefix)
            check = parse_invoice_numbers(rest)
            if check is not None:
                return check
            if prefix != "FP" and rest.strip() and not any(ch.isdigit() for ch in rest):
                return None  # '发票丢了怎么办': a question about invoices, for the staff
            return InvoiceHelp()
    if _ONLY_NUMBERS.fullmatch(flat):
        check = parse_invoice_numbers(flat)
        if check is None and sum(ch.isdigit() for ch in flat) >= MIN_INVOICE_DIGITS:
            return InvoiceHelp()  # digits only, about an invoice's worth of them: a mistyped check
        return check
    return None


def _status(flat: str, compact: str) -> StatusQuery | StatusHelp | None:
    for prefix in STATUS_PREFIXES:
        if compact.startswith(prefix):
            rest = _after_prefix(flat, prefix).strip(" -:：#,，").replace(" ", "")
            if not rest:
                return StatusHelp()
            if _REFERENCE.fullmatch(rest):
                return StatusQuery(rest)
            if _REFERENCE_CHARS.fullmatch(rest):
                return StatusHelp()  # 'CX 12': a reference, but too short or too long
            return None
    return None


def _after_prefix(flat: str, prefix: str) -> str:
    """`flat` after `prefix`, which it starts with once spaces are ignored ('F P 123' after 'FP' is ' 123')."""
    index = 0
    for _ in prefix:
        while flat[index] == " ":
            index += 1
        index += 1
    return flat[index:]
