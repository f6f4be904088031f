"""Masking of taxpayers' personal data for logs and screens: phone numbers and names.

`mask_phone('13800138000') == '138****8000'` (first three, last four). `mask_name` keeps the family name's
first character and hides the rest, one `*` per character: '张三' -> '张*', '欧阳娜娜' -> '欧***' (no given-name
character is ever shown, and compound family names are not guessed at); `mask_taxpayer_id` keeps the first
and last four characters of a taxpayer id. `PhoneMaskingFilter` masks mobile
numbers in log records; attach it to handlers (a logger's filters do not see records propagated from its
children).
"""

from __future__ import annotations

import logging
import re

# A mainland mobile number in free text: optional +86 / 0086 / 86 prefix, 1[3-9]x xxxx xxxx with optional
# spaces or dashes between groups, not part of a longer run of digits (ID card numbers, invoice codes).
_MOBILE_IN_TEXT = re.compile(
    r"(?<!\d)(?P<prefix>(?:\+|00)?86[ -]?)?(?P<head>1[3-9]\d)[ -]?(?P<mid>\d{4})[ -]?(?P<tail>\d{4})(?!\d)"
)
_PHONE_NOISE = str.maketrans("", "", " -()\u00a0")


def _masked(match: re.Match[str]) -> str:
    return f"{match['prefix'] or ''}{match['head']}****{match['tail']}"


def mask_phone(number: str) -> str:
    """'13800138000', '+86 138-0013-8000' or '8613800138000' -> '138****8000' (the national form, masked).

    Anything that is not a mainland mobile number shows only its last four characters.
    """
    compact = number.translate(_PHONE_NOISE)
    for prefix in ("+86", "0086", "86"):
        if compact.startswith(prefix) and len(compact) == len(prefix) + 11:
            compact = compact[len(prefix) :]
            break
    match = _MOBILE_IN_TEXT.fullmatch(compact)
    if match and not match["prefix"]:
        return _masked(match)
    return "*" * max(len(compact) - 4, 4) + compact[-4:] if len(compact) > 4 else "*" * len(compact)


def mask_name(name: str) -> str:
    """'张三' -> '张*', '欧阳娜娜' -> '欧***': the first character, then one '*' per hidden character."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


def mask_taxpayer_id(taxpayer_id: str) -> str:
    """'91350100M000100Y43' -> '9135**********0Y43': the first and last four characters."""
    if len(taxpayer_id) <= 8:
        return "*" * len(taxpayer_id)
    return taxpayer_id[:4] + "*" * (len(taxpayer_id) - 8) + taxpayer_id[-4:]


def mask_text(text: str) -> str:
    """`text` with every mainland mobile number in it masked ('请致电13800138000' -> '请致电138****8000')."""
    return _MOBILE_IN_TEXT.sub(_masked, text)


class PhoneMaskingFilter(logging.Filter):
    """Masks mobile numbers in a record's message, arguments and exception text; never drops a record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: mask the pieces, let the handler report the error
            record.msg = mask_text(record.msg) if isinstance(record.msg, str) else record.msg
            if isinstance(record.args, tuple):
                record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
        else:
            record.msg, record.args = mask_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
