"""deliver_sm from the SMSC: classified, handed to the sink, acknowledged only once stored.

A receipt or a complete MO message goes to the sink; its deliver_sm_resp is written when the sink's
awaitable finishes: ESME_ROK, or ESME_RX_T_APPN when storing failed, so that the SMSC delivers it again
rather than it being lost. An unreadable deliver_sm, or a part of a still incomplete MO, is acknowledged
at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from taxsms.channels.events import MoAssembler, MoMessage
from taxsms.channels.link import SmppLink
from taxsms.channels.smpp import CommandStatus, DeliverSm, Receipt, deliver_sm_resp_frame
from taxsms.channels.submits import SessionConfig, SessionStats

log = logging.getLogger(__name__)
EventSink = Callable[[Receipt | MoMessage], Awaitable[None] | None]


class Inbound:
    """The deliver_sm side of one bind."""

    def __init__(self, config: SessionConfig, sink: EventSink, stats: SessionStats, name: str) -> None:
        self._assembler = MoAssembler(max_pending=config.mo_max_pending, max_pending_bytes=config.mo_max_pending_bytes)
        self._sink, self._stats, self._name = sink, stats, name

    def deliver(self, link: SmppLink, pdu: DeliverSm) -> None:
        stats, seq = self._stats, pdu.sequence_number
        stats.deliver_sm += 1
        try:
            event = self._assembler.classify(pdu)
        except ValueError as exc:
            log.warning("%s: unreadable deliver_sm (%s); acknowledged and dropped", self._name, exc)
            stats.protocol_errors += 1
            event = None
        stats.mo_parts_dropped = self._assembler.dropped_parts
        stored = None if event is None else self._sink(event)
        if stored is None:
            link.send(deliver_sm_resp_frame(seq))
        else:
            asyncio.ensure_future(stored).add_done_callback(lambda done: _acknowledge(link, seq, done))


def _acknowledge(link: SmppLink, seq: int, stored: asyncio.Future[None]) -> None:
    """Answer a deliver_sm once its event is stored; if storing failed the SMSC retries later."""
    failed = stored.cancelled() or stored.exception() is not None
    if link.open:  # else the SMSC sends it again on the next bind
        link.send(deliver_sm_resp_frame(seq, CommandStatus.ESME_RX_T_APPN if failed else 0))
