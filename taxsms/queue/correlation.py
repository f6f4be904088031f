"""Which message a delivery receipt is about, whatever base the SMSC writes its ids in (sans-I/O).

SMSCs answer submit_sm_resp with a message id and later name the same message in the receipt, but not always
in the same form: many give the id in hex in submit_sm_resp and in decimal in the receipt text (some the other
way round), some zero-pad. So a receipt's id is looked up as given and as its counterpart in the other base
(`candidates`), and `choose` decides among the messages found:

- only the messages sent to the phone the receipt comes from (its source address) count, when both are known;
- one left: that one, unless this link is known to write ids another way and the phone did not confirm it;
- several left (ids valid in both bases, e.g. "17" and 0x11 = "11", both live, same phone or no phone): the
  way of writing ids this link has used so far (`IdConvention`, learned from receipts that matched only one
  way) decides; not learned yet, the receipt is not applied (counted as ambiguous) rather than risk the wrong
  job: its message then ends `unconfirmed` after the receipt timeout, unless another receipt settles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import msgspec

_HEX_DIGITS = "0123456789abcdef"


class Form(StrEnum):
    """How a receipt's id relates to the submit_sm_resp id it names."""

    SAME = "same"  # written alike
    DECIMAL_OF_HEX = "decimal_of_hex"  # submit_sm_resp in hex, receipt in decimal
    HEX_OF_DECIMAL = "hex_of_decimal"  # submit_sm_resp in decimal, receipt in hex


def normalise_message_id(message_id: str) -> str:
    """The canonical form a message id is stored under: stripped, lower-case, no leading zeros ("0" if none left)."""
    return message_id.strip().lower().lstrip("0") or "0"


def candidates(message_id: str) -> dict[str, Form]:
    """The normalised submit_sm_resp ids a receipt id may stand for, each with the form that maps it here.

    The same id for both forms (e.g. "9") appears once, as SAME. Symmetric: `b in candidates(a)` exactly
    when `a in candidates(b)`.
    """
    value = normalise_message_id(message_id)
    found = {value: Form.SAME}
    if value.strip(_HEX_DIGITS):  # not a number in hex (nor in decimal)
        return found
    if len(value) <= 40 and value.isdigit():
        found.setdefault(format(int(value), "x"), Form.DECIMAL_OF_HEX)
    if len(value) <= 32:
        found.setdefault(str(int(value, 16)), Form.HEX_OF_DECIMAL)
    return found


class IdConvention:
    """How one link writes receipt ids, learned from receipts that could be matched one way only."""

    __slots__ = ("seen", "usual")

    def __init__(self) -> None:
        self.seen: dict[Form, int] = dict.fromkeys(Form, 0)
        #: The form at least 9 in 10 informative receipts had (of 3 or more), else None (not known).
        self.usual: Form | None = None

    def learn(self, form: Form) -> None:
        self.seen[form] += 1
        total = sum(self.seen.values())
        best = max(self.seen, key=self.seen.__getitem__)
        self.usual = best if total >= 3 and self.seen[best] * 10 >= total * 9 else None


class Found(msgspec.Struct, frozen=True):
    """A message a receipt may be about: the id it is stored under, how the receipt's id maps to it, the
    stored mapping value, and the phone it was sent to ('' if not recorded)."""

    message_id: str
    form: Form
    value: str
    phone: str


class Verdict(StrEnum):
    MATCHED = "matched"
    UNKNOWN = "unknown"  # no message found: keep it as an orphan, its submit may not be recorded yet
    AMBIGUOUS = "ambiguous"  # several could be meant and nothing tells them apart: not applied
    MISMATCH = "mismatch"  # found only for another phone, or in a form this link does not use: kept as an orphan


def choose(
    forms: dict[str, Form], found: Sequence[Found], phone: str, convention: IdConvention
) -> tuple[Verdict, Found | None]:
    """Decide which of the messages `found` (looked up under `forms`, the receipt id's candidates()) a receipt
    from `phone` ('' if not given) is about.

    A receipt whose id could be read several ways and that matched one way only (or one confirmed by the
    phone) teaches `convention` how this link writes ids.
    """
    if not found:
        return Verdict.UNKNOWN, None
    confirmed = [f for f in found if phone and f.phone and f.phone == phone]
    possible = confirmed or [f for f in found if not (phone and f.phone)]
    if not possible:
        return Verdict.MISMATCH, None
    usual = convention.usual
    if len(possible) == 1:
        (only,) = possible
        informative = len(found) == 1 and len(forms) > 1
        if usual is not None and only.form is not usual and not confirmed:
            return Verdict.MISMATCH, None
        if informative or (confirmed and len(found) > 1):
            convention.learn(only.form)
        return Verdict.MATCHED, only
    usual_ones = [f for f in possible if f.form is usual]
    if len(usual_ones) == 1:
        return Verdict.MATCHED, usual_ones[0]
    return Verdict.AMBIGUOUS, None
