"""Taxpayer ids: the 18-character unified social credit code (GB 32100-2015) or a legacy 15-20 character id.

A unified social credit code is: registration authority (1 character), entity type (1), administrative
division (6 digits), organisation code (9) and a check character, over the 31-character alphabet without
I, O, Z, S, V; the check character is 31 - (sum of value x weight mod 31), 31 written as 0. Legacy ids
(tax registration numbers: division + organisation code, or a resident ID card number for individual
businesses) are 15 to 20 digits and capital letters; an 18-character legacy id must be a valid resident ID
number (GB 11643-1999 check digit), so a mistyped credit code is never taken for a legacy id.
"""

from __future__ import annotations

import re

from taxsms.errors import InvalidInput

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: n for n, ch in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC = re.compile(rf"^[{USCC_ALPHABET}]{{2}}\d{{6}}[{USCC_ALPHABET}]{{10}}$")
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"
_LEGACY = re.compile(r"^[0-9A-Z]{15,20}$")


class TaxpayerIdError(InvalidInput):
    """Not a valid taxpayer id; says why."""


def uscc_check_character(first17: str) -> str:
    """The check character of the first 17 characters of a unified social credit code."""
    total = sum(_USCC_VALUE[ch] * weight for ch, weight in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _resident_ok(number: str) -> bool:
    if not number[:17].isdigit():
        return False
    total = sum(int(ch) * weight for ch, weight in zip(number[:17], _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECK[total % 11] == number[17]


def validate_taxpayer_id(raw: str) -> str:
    """The id in canonical form (trimmed, upper case), or TaxpayerIdError."""
    tid = raw.strip().upper()
    if len(tid) == 18:
        if _USCC.match(tid):
            if uscc_check_character(tid[:17]) == tid[17]:
                return tid
            if not _resident_ok(tid):
                raise TaxpayerIdError(
                    f"taxpayer id {tid!r}: wrong check character for a unified social credit code "
                    f"(expected {uscc_check_character(tid[:17])!r})"
                )
        if _resident_ok(tid):
            return tid
        raise TaxpayerIdError(f"taxpayer id {tid!r}: neither a unified social credit code nor a resident id number")
    if _LEGACY.match(tid):
        return tid
    raise TaxpayerIdError(
        f"taxpayer id {raw!r}: expected an 18-character unified social credit code or a 15-20 character "
        "legacy id (digits and capital letters)"
    )
