"""What an SMSC tells us through deliver_sm: delivery receipts and taxpayers' own messages (MO)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from taxsms.channels.smpp import (
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_UDHI,
    DeliverSm,
    Receipt,
    decode_short_message,
    parse_concat_udh,
    parse_receipt,
)

MO_PART_TTL_S = 300.0  # parts of a concatenated MO that never complete are given up after this


@dataclass(frozen=True, slots=True)
class MoMessage:
    """A message a taxpayer sent to the service number (mobile originated)."""

    source: str
    destination: str
    text: str
    received_at: float


class MoAssembler:
    """Classifies deliver_sm PDUs and joins the parts of concatenated MO messages."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._parts: dict[tuple[str, int, int], tuple[float, dict[int, str]]] = {}

    def classify(self, pdu: DeliverSm) -> Receipt | MoMessage | None:
        """Return the receipt or MO message `pdu` carries, or None while an MO is still incomplete.

        Raises ValueError for a receipt without a message id or a malformed UDH.
        """
        if pdu.esm_class & ESM_CLASS_DELIVERY_RECEIPT:
            return parse_receipt(pdu)
        data = pdu.text_bytes
        concat = None
        if pdu.esm_class & ESM_CLASS_UDHI:
            concat, data = parse_concat_udh(data)
        text = decode_short_message(data, pdu.data_coding)
        now = self._clock()
        if concat is None or concat.total <= 1:
            return MoMessage(pdu.source_addr, pdu.destination_addr, text, now)
        self._expire(now)
        key = (pdu.source_addr, concat.reference, concat.total)
        _, parts = self._parts.setdefault(key, (now, {}))
        parts[concat.seqnum] = text
        if len(parts) < concat.total:
            return None
        del self._parts[key]
        joined = "".join(parts[i] for i in sorted(parts))
        return MoMessage(pdu.source_addr, pdu.destination_addr, joined, now)

    def _expire(self, now: float) -> None:
        stale = [key for key, (started, _) in self._parts.items() if now - started > MO_PART_TTL_S]
        for key in stale:
            del self._parts[key]
