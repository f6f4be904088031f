"""A sans-I/O SMPP 3.4 connection for either end of a link (like h11's Connection): bytes in, events out.

    conn = Connection(Role.ESME)
    wire = conn.send(BindTransceiver(sequence_number=0, system_id="x", password="y"))  # write these bytes
    conn.receive_data(bytes_from_socket)
    while (event := conn.next_event()) is not NEED_DATA: ...
    wire = conn.data_to_send()  # what the connection answered on its own

The connection holds all protocol state: the bind state (smpp/state.py), sequence numbers (wrapping at
0x7FFFFFFF, skipping numbers still in use), the requests sent and not yet answered (the window, each with
the caller's context, handed back with its response), the requests received and owed an answer. It answers
on its own what needs no decision: enquire_link, unbind, undecodable PDUs (error_response), requests not
allowed in the bind state or for the peer's role (ESME_RINVBNDSTS, ESME_RALYBND, ESME_RINVCMDID) and a
broken stream (generic_nack ESME_RINVCMDLEN, then next_event() raises RemoteProtocolError: close it).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import msgspec

from taxsms.channels.smpp.codec import (
    FramingError,
    InvalidPduError,
    LocalProtocolError,
    RemoteProtocolError,
    encode,
    error_response,
)
from taxsms.channels.smpp.constants import RESPONSE_BIT, CommandId
from taxsms.channels.smpp.pdus import EnquireLinkResp, GenericNack, Pdu, PduBase, UnbindResp, response_for
from taxsms.channels.smpp.reader import PduReader
from taxsms.channels.smpp.state import (
    ANSWERED_BY_CONNECTION,
    BIND_TARGETS,
    REQUEST_TARGETS,
    REQUESTS,
    BindState,
    Role,
    after_answer,
    peer_of,
    refusal_status,
)

MAX_SEQUENCE: Final = 0x7FFFFFFF
_SEQUENCE = struct.Struct(">I")
_COMMAND_ID = _STATUS = struct.Struct(">I")
_GENERIC_NACK = int(CommandId.GENERIC_NACK)
_ENQUIRE_LINK = int(CommandId.ENQUIRE_LINK)
_CLOSED, _OPEN = BindState.CLOSED, BindState.OPEN


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


#: next_event() has nothing until more bytes are received.
NEED_DATA: Final = _NeedData()


class Response(msgspec.Struct):
    """The answer (its *_resp, or generic_nack) to a request we sent, with the context send() was given."""

    pdu: PduBase
    context: Any


@dataclass(frozen=True, slots=True)
class Refused:
    """A request we may not take, or could not decode (pdu None): already answered with `status`."""

    pdu: PduBase | None
    status: int
    reason: str


Event: TypeAlias = Pdu | Response | Refused


def with_sequence(frame: bytes, sequence_number: int) -> bytes:
    """An encoded PDU with its sequence number replaced (frames are encoded once, numbered when sent)."""
    return frame[:12] + _SEQUENCE.pack(sequence_number) + frame[16:]


class Connection:
    """One SMPP connection seen from `role`; knows nothing of sockets or time."""

    def __init__(self, role: Role, *, last_sequence: int = 0) -> None:
        self.role = role
        self.state = _OPEN
        self.unexpected_responses = 0  # responses to no request of ours (late, after forget()) or of the wrong type
        self._may_send = REQUESTS[role]
        self._may_receive = REQUESTS[peer_of(role)]
        self._reader = PduReader()
        self._events: deque[Event] = deque()
        self._out: list[bytes] = []
        self._sequence = last_sequence
        #: Our unanswered requests, oldest first: sequence number -> (command_id, context). Read only.
        self.outstanding: dict[int, tuple[int, Any]] = {}
        self._owed: dict[int, int] = {}  # the peer's requests we have to answer: sequence -> command_id
        self._broken: RemoteProtocolError | None = None

    # -- what the caller asks -------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered (the window in use)."""
        return len(self.outstanding)

    @property
    def owed(self) -> int:
        """The peer's requests not answered yet."""
        return len(self._owed)

    def forget(self, sequence_number: int) -> Any:
        """Give up waiting for a request's answer (it timed out); a late answer is then ignored."""
        return self.outstanding.pop(sequence_number)[1]

    def close(self) -> list[Any]:
        """The stream is gone: CLOSED, and the contexts of the requests never answered (once)."""
        self.state = _CLOSED
        contexts = [context for _, context in self.outstanding.values()]
        self.outstanding.clear()
        self._owed.clear()
        return contexts

    # -- sending ----------------------------------------------------------------------------------------------

    def send(self, pdu: PduBase | bytes, context: Any = None) -> bytes:
        """The bytes to write for `pdu` (or an already encoded frame), after checking the state allows it.

        A request gets our next sequence number (whatever it carries) and is remembered with `context` until
        its answer; a response must answer a request received and not answered yet. Raises
        LocalProtocolError (with the status the peer would answer) when SMPP does not allow it now.
        """
        if isinstance(pdu, bytes):
            frame: bytes | None = pdu
            (command_id,) = _COMMAND_ID.unpack_from(pdu, 4)
        else:
            frame, command_id = None, pdu.command_id
        if command_id & RESPONSE_BIT:
            return self._send_response(pdu if frame is None else frame, command_id)  # type: ignore[arg-type]
        if command_id not in self._may_send[self.state]:
            status = refusal_status(self.role, self.state, command_id)
            raise LocalProtocolError(f"{_name(command_id)} may not be sent {self._where()}", status)
        frame = encode(pdu) if frame is None else frame  # type: ignore[arg-type]  # may raise ValueError: first
        seq = self._next_sequence()
        self.outstanding[seq] = (command_id, context)
        if command_id in REQUEST_TARGETS:
            self.state = REQUEST_TARGETS[command_id]
        return with_sequence(frame, seq)

    def data_to_send(self) -> bytes:
        """What the connection answered on its own since the last call (write it out)."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def _send_response(self, pdu: PduBase | bytes, command_id: int) -> bytes:
        if self.state is _CLOSED:
            raise LocalProtocolError(f"{_name(command_id)} may not be sent on a closed connection")
        seq = pdu.sequence_number if isinstance(pdu, PduBase) else _SEQUENCE.unpack_from(pdu, 12)[0]
        request = self._owed.pop(seq, None)
        if request is None:
            if command_id == _GENERIC_NACK:  # may answer anything, even what never decoded
                return pdu if isinstance(pdu, bytes) else encode(pdu)
            raise LocalProtocolError(f"{_name(command_id)} answers no request received as {seq}")
        if command_id != request | RESPONSE_BIT and command_id != _GENERIC_NACK:
            self._owed[seq] = request
            raise LocalProtocolError(f"{_name(command_id)} cannot answer {_name(request)}")
        frame = pdu if isinstance(pdu, bytes) else encode(pdu)
        if request in BIND_TARGETS:
            self.state = after_answer(self.state, request, command_id, _STATUS.unpack_from(frame, 8)[0])
        return frame

    def _next_sequence(self) -> int:
        seq = self._sequence
        while True:
            seq = seq + 1 if seq < MAX_SEQUENCE else 1
            if seq not in self.outstanding:
                self._sequence = seq
                return seq

    # -- receiving --------------------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer, in any chunking; their events are then read with next_event()."""
        if self.state is _CLOSED:
            return
        try:
            pdus = self._reader.feed(data)
        except FramingError as exc:
            pdus = exc.pdus  # what came before the garbage is good: handle it first
            self._broken = exc
        for pdu in pdus:
            self._receive(pdu)
        if self._broken is not None:
            self._out.append(encode(GenericNack(sequence_number=0, command_status=self._broken.status)))
            self.close()

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA. After a broken stream, raises RemoteProtocolError (close the link)."""
        if self._events:
            return self._events.popleft()
        if self._broken is not None:
            raise self._broken
        return NEED_DATA

    def _receive(self, pdu: Pdu | InvalidPduError) -> None:
        if type(pdu) is InvalidPduError:
            self._out.append(encode(error_response(pdu)))
            self._events.append(Refused(None, pdu.status, pdu.reason))
            return
        command_id, seq = pdu.command_id, pdu.sequence_number  # type: ignore[union-attr]
        if command_id & RESPONSE_BIT:
            entry = self.outstanding.get(seq)
            if entry is None or (command_id != entry[0] | RESPONSE_BIT and command_id != _GENERIC_NACK):
                self.unexpected_responses += 1
                return
            del self.outstanding[seq]
            if entry[0] in BIND_TARGETS:
                self.state = after_answer(self.state, entry[0], command_id, pdu.command_status)
            self._events.append(Response(pdu, entry[1]))
            return
        if command_id not in self._may_receive[self.state]:
            status = refusal_status(peer_of(self.role), self.state, command_id)
            self._out.append(encode(response_for(pdu, command_status=status)))
            self._events.append(Refused(pdu, status, f"{_name(command_id)} received {self._where()}"))
            return
        if command_id in REQUEST_TARGETS:
            self.state = REQUEST_TARGETS[command_id]
        if command_id not in ANSWERED_BY_CONNECTION:
            self._owed[seq] = command_id
            self._events.append(pdu)
        elif command_id == _ENQUIRE_LINK:  # nothing for the caller to do
            self._out.append(encode(EnquireLinkResp(sequence_number=seq)))
        else:  # unbind: the caller closes once this answer is out
            self._out.append(encode(UnbindResp(sequence_number=seq)))
            self._events.append(pdu)

    def _where(self) -> str:
        return f"by the {self.role.name} in state {self.state.name}"


def _name(command_id: int) -> str:
    try:
        return CommandId(command_id).name.lower()
    except ValueError:
        return f"command 0x{command_id:08X}"
