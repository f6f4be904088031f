"""Incremental stream decoder: feed it bytes in any chunking, get whole PDUs out."""

from __future__ import annotations

import struct

from taxsms.channels.smpp.codec import FramingError, InvalidPduError, decode
from taxsms.channels.smpp.constants import HEADER_LENGTH, MAX_PDU_LENGTH
from taxsms.channels.smpp.pdus import Pdu

_LENGTH = struct.Struct(">I")


class PduReader:
    """Buffers a TCP byte stream and cuts it into PDUs by command_length.

    Whole PDUs are sliced straight out of the chunk given to feed(); only an incomplete tail is buffered (a
    bytearray consumed from the front, which CPython does in place without copying the rest).
    """

    __slots__ = ("_broken", "_buffer")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._broken: str | None = None

    def feed(self, data: bytes) -> list[Pdu | InvalidPduError]:
        """Add bytes; return every PDU now complete, in order.

        A PDU that fails to decode is returned as its InvalidPduError (answer it with error_response; the
        stream goes on). Raises FramingError when a command_length is < 16 or > MAX_PDU_LENGTH: the stream
        cannot be resynchronised and the caller must close the connection. The error's `pdus` are those
        decoded before the bad frame; once broken, the reader raises on every later feed too.
        """
        if self._broken is not None:
            raise FramingError(f"stream already broken: {self._broken}")
        buf = self._buffer
        if buf:
            buf += data
            source: bytes | bytearray = buf
        else:
            source = data
        start, end = 0, len(source)
        out: list[Pdu | InvalidPduError] = []
        while end - start >= 4:
            (length,) = _LENGTH.unpack_from(source, start)
            if length < HEADER_LENGTH or length > MAX_PDU_LENGTH:
                self._broken = f"command_length {length} is outside {HEADER_LENGTH}..{MAX_PDU_LENGTH}"
                buf.clear()
                raise FramingError(self._broken, out)
            if end - start < length:
                break
            frame = source[start : start + length]
            start += length
            try:
                out.append(decode(frame))
            except InvalidPduError as exc:
                out.append(exc)
        if source is buf:
            del buf[:start]
        elif start < end:
            buf += source[start:]
        return out

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a whole PDU."""
        return len(self._buffer)
