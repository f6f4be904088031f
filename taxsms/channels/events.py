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
MO_MAX_PENDING = 2_000  # incomplete concatenated MO messages kept at most (the oldest is given up first) ...
MO_MAX_PENDING_BYTES = 4 << 20  # ... and the octets of text their parts hold


@dataclass(frozen=True, slots=True)
class MoMessage:
    """A message a taxpayer sent to the service number (mobile originated)."""

    source: str
    destination: str
    text: str
    received_at: float


@dataclass(slots=True)
class _Pending:
    started: float
    parts: dict[int, tuple[str, int]]  # seqnum -> (text, octets received)
    octets: int = 0


class MoAssembler:
    """Classifies deliver_sm PDUs and joins the parts of concatenated MO messages.

    Incomplete messages are bounded in time (MO_PART_TTL_S), count and octets: beyond a cap the oldest is
    given up (its parts counted in `dropped_parts`), so a flood of first parts cannot grow memory.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        max_pending: int = MO_MAX_PENDING,
        max_pending_bytes: int = MO_MAX_PENDING_BYTES,
    ) -> None:
        self._clock = clock
        self._max_pending, self._max_bytes = max_pending, max_pending_bytes
        self._pending: dict[tuple[str, int, int], _Pending] = {}  # oldest first
        self.pending_bytes = 0
        self.dropped_parts = 0

    @property
    def pending(self) -> int:
        """Concatenated messages waiting for parts."""
        return len(self._pending)

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
        key = (pdu.source_addr, concat.reference, concat.total)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(now, {})
        _, replaced = pending.parts.get(concat.seqnum, ("", 0))  # the same part again replaces it
        pending.parts[concat.seqnum] = (text, len(data))
        pending.octets += len(data) - replaced
        self.pending_bytes += len(data) - replaced
        if len(pending.parts) >= concat.total:
            self._forget(key)
            joined = "".join(pending.parts[i][0] for i in sorted(pending.parts))
            return MoMessage(pdu.source_addr, pdu.destination_addr, joined, now)
        self._trim(now)
        return None

    def _trim(self, now: float) -> None:
        """Give up the oldest incomplete messages: expired, or beyond the count and octet caps."""
        pending = self._pending
        while pending:
            key, oldest = next(iter(pending.items()))
            over = len(pending) > self._max_pending or self.pending_bytes > self._max_bytes
            if not over and now - oldest.started <= MO_PART_TTL_S:
                return
            self.dropped_parts += len(oldest.parts)
            self._forget(key)

    def _forget(self, key: tuple[str, int, int]) -> None:
        self.pending_bytes -= self._pending.pop(key).octets
