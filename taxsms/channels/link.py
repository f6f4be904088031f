"""One TCP connection carrying one sans-I/O SMPP Connection: the asyncio shell the session and the simulator share.

Bytes from the socket go into the Connection and its events to `on_event`; what is sent goes out in one
transport write per chunk received or per loop iteration (batched writes), the Connection's own answers
included. A broken stream (framing) is answered, flushed and closed; `on_lost` gets the contexts of the
requests that were never answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

from taxsms.channels.smpp import NEED_DATA, Connection, EnquireLink, Event, PduBase, RemoteProtocolError, Role

log = logging.getLogger(__name__)


class SmppLink(asyncio.Protocol):
    """An asyncio.Protocol over Connection(role); `heard` is set whenever bytes arrive (reset it to watch)."""

    def __init__(
        self,
        role: Role,
        on_event: Callable[[Event], None],
        on_lost: Callable[[SmppLink, list[Any]], None],
        on_broken: Callable[[RemoteProtocolError], None] | None = None,
    ) -> None:
        self.connection = Connection(role)
        self.transport: asyncio.Transport | None = None
        self.heard = False
        self.silent_periods = 0
        self._on_event = on_event
        self._on_lost = on_lost
        self._on_broken = on_broken
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._loop = asyncio.get_running_loop()

    @property
    def open(self) -> bool:
        """Connected and not closing: what is sent now still goes out."""
        return self.transport is not None and not self.transport.is_closing()

    def send(self, pdu: PduBase | bytes, context: Any = None) -> None:
        """Send a PDU (or an encoded frame) through the Connection; raises LocalProtocolError if not allowed."""
        self._out.append(self.connection.send(pdu, context))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def write(self, data: bytes) -> None:
        """Queue bytes; they go out in one transport write at the end of this chunk or loop iteration."""
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        answered = self.connection.data_to_send()
        if answered:
            self._out.append(answered)
        if self._out:
            if self.open:
                self.transport.write(b"".join(self._out))  # type: ignore[union-attr]
            self._out.clear()

    def hang_up(self) -> None:
        """Send what is queued, then close (after unbind, a broken stream)."""
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, like a network failure; what is queued is not sent."""
        self._out.clear()
        if self.transport is not None:
            self.transport.abort()

    def keepalive(self) -> bool:
        """One keepalive period: enquire_link; but when nothing was heard for two periods, abort (False)."""
        self.silent_periods = 0 if self.heard else self.silent_periods + 1
        self.heard = False
        if self.silent_periods >= 2:
            self.abort()
            return False
        self.send(EnquireLink(sequence_number=0))
        return True

    # -- asyncio.Protocol --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._out.clear()
        self._on_lost(self, self.connection.close())

    def data_received(self, data: bytes) -> None:
        self.heard = True
        self._flush_scheduled = True  # everything written while handling this chunk goes out in one write
        connection, on_event = self.connection, self._on_event
        try:
            connection.receive_data(data)
            next_event = connection.next_event
            while (event := next_event()) is not NEED_DATA:
                try:
                    on_event(event)  # type: ignore[arg-type]
                except Exception:  # a handler bug must not kill the link
                    log.exception("error handling %r", event)
        except RemoteProtocolError as exc:  # answered (generic_nack) by the connection: hang up
            if self._on_broken is not None:
                self._on_broken(exc)
            self.hang_up()
        finally:
            self.flush()
