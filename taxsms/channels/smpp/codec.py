"""Encode PDUs to bytes and decode bytes to PDUs: pure functions, no I/O.

encode() checks every field against SMPP 3.4's limits and raises ValueError rather than truncating. decode()
trusts nothing: a malformed PDU is an InvalidPduError carrying the command_status to answer it with. TLVs are
written in the order of the SMPP 3.4 tables, as smpplib does (readers must accept any order). On decode,
unknown TLVs of submit_sm/deliver_sm are kept in extra_tlvs; other PDUs' TLVs are checked and skipped.

Hot path notes: the fixed part of a body is one %-format (encode) or one precompiled regex match (decode);
the field-by-field checks run only to explain a failure. submit_sm/deliver_sm are built through their slot
descriptors, about twice as fast as the frozen dataclass __init__ with its 28 keyword arguments.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any, NoReturn

from taxsms.channels.smpp.constants import HEADER_LENGTH, MAX_PDU_LENGTH, CommandId, CommandStatus, Tag
from taxsms.channels.smpp.pdus import (
    PDU_CLASSES,
    REQUEST_TO_RESPONSE,
    DeliverSmResp,
    GenericNack,
    Pdu,
    PduBase,
    SubmitSmResp,
    _Bind,
    _BindResp,
    _ShortMessage,
)

HEADER = struct.Struct(">IIII")
_TLV_HEAD = struct.Struct(">HH")
_TLV_U8 = struct.Struct(">HHB")
_TLV_U16 = struct.Struct(">HHH")
MAX_SHORT_MESSAGE = 254

#: Maximum sizes of C-Octet Strings, NUL included (SMPP 3.4 section 5.2).
SIZES = {
    "system_id": 16,
    "password": 9,
    "system_type": 13,
    "address_range": 41,
    "service_type": 6,
    "source_addr": 21,
    "destination_addr": 21,
    "schedule_delivery_time": 17,
    "validity_period": 17,
    "message_id": 65,
    "receipted_message_id": 65,
}
# The status to answer a request whose field is too long with (anything else: ESME_RSYSERR).
_OVERLONG_STATUS = {
    "system_id": CommandStatus.ESME_RINVSYSID,
    "password": CommandStatus.ESME_RINVPASWD,
    "system_type": CommandStatus.ESME_RINVSYSTYP,
    "address_range": CommandStatus.ESME_RBINDFAIL,
    "service_type": CommandStatus.ESME_RINVSERTYP,
    "source_addr": CommandStatus.ESME_RINVSRCADR,
    "destination_addr": CommandStatus.ESME_RINVDSTADR,
    "schedule_delivery_time": CommandStatus.ESME_RINVSCHED,
    "validity_period": CommandStatus.ESME_RINVEXPIRY,
    "message_id": CommandStatus.ESME_RINVMSGID,
}
# Integer fields wider than one octet (everything else is one octet).
_INT_BITS = {"sequence_number": 32, "command_status": 32, "sar_msg_ref_num": 16, "user_message_reference": 16}
_FIXED_TLV_SIZES = {
    int(Tag.MESSAGE_STATE): 1,
    int(Tag.NETWORK_ERROR_CODE): 3,
    int(Tag.SAR_MSG_REF_NUM): 2,
    int(Tag.SAR_TOTAL_SEGMENTS): 1,
    int(Tag.SAR_SEGMENT_SEQNUM): 1,
    int(Tag.USER_MESSAGE_REFERENCE): 2,
}
#: Tags that have their own field in SubmitSm/DeliverSm (so they may not appear in extra_tlvs).
SHORT_MESSAGE_TAGS = frozenset({int(Tag.RECEIPTED_MESSAGE_ID), int(Tag.MESSAGE_PAYLOAD), *_FIXED_TLV_SIZES})

# Plain ints for the decode loop (comparing with IntEnum members costs an attribute lookup each time).
_RECEIPTED_MESSAGE_ID = int(Tag.RECEIPTED_MESSAGE_ID)
_MESSAGE_STATE = int(Tag.MESSAGE_STATE)
_NETWORK_ERROR_CODE = int(Tag.NETWORK_ERROR_CODE)
_SAR_MSG_REF_NUM = int(Tag.SAR_MSG_REF_NUM)
_SAR_TOTAL_SEGMENTS = int(Tag.SAR_TOTAL_SEGMENTS)
_SAR_SEGMENT_SEQNUM = int(Tag.SAR_SEGMENT_SEQNUM)
_MESSAGE_PAYLOAD = int(Tag.MESSAGE_PAYLOAD)
_USER_MESSAGE_REFERENCE = int(Tag.USER_MESSAGE_REFERENCE)
_SC_INTERFACE_VERSION = int(Tag.SC_INTERFACE_VERSION)

_RSYSERR = CommandStatus.ESME_RSYSERR
_RINVCMDLEN = CommandStatus.ESME_RINVCMDLEN
_RINVOPTPARSTREAM = CommandStatus.ESME_RINVOPTPARSTREAM
_RINVPARLEN = CommandStatus.ESME_RINVPARLEN


class ProtocolError(Exception):
    """SMPP broken by one side; `status` is the command_status that answers it (like h11's error_status_hint)."""

    def __init__(self, reason: str, status: int = _RSYSERR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LocalProtocolError(ProtocolError):
    """We tried to send what SMPP does not allow now (e.g. submit_sm before bind: status ESME_RINVBNDSTS)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent what SMPP does not allow; `status` is what to answer it with."""


class InvalidPduError(RemoteProtocolError):
    """One PDU could not be decoded; the stream itself is intact (its command_length was sane).

    command_status (= status) is what to answer with (see error_response): ESME_RINVCMDID for a command we
    do not know, ESME_RINVMSGLEN for an sm_length beyond the body, ESME_RINVCMDLEN when the body ends early
    or has octets left over, the field's own status for an over-long C-Octet String (e.g. ESME_RINVSRCADR),
    ESME_RINVOPTPARSTREAM / ESME_RINVPARLEN for broken TLVs, else ESME_RSYSERR.
    """

    def __init__(self, command_id: int, sequence_number: int, command_status: int, reason: str) -> None:
        super().__init__(reason, command_status)
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.command_status = command_status


class FramingError(RemoteProtocolError):
    """The command_length is impossible: the stream cannot be resynchronised, close the connection.

    `pdus` holds what the same PduReader.feed() call decoded before the bad frame (they are valid and may
    be worth handling, e.g. a submit_sm_resp, before closing). Answer with generic_nack ESME_RINVCMDLEN.
    """

    def __init__(self, reason: str, pdus: Iterable[Pdu | InvalidPduError] = ()) -> None:
        super().__init__(reason, _RINVCMDLEN)
        self.pdus = list(pdus)


class _Malformed(Exception):
    """Internal: what is wrong with a body; decode() turns it into an InvalidPduError."""

    def __init__(self, reason: str, status: int = _RSYSERR) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


# -- validation (runs to explain why encoding failed) -------------------------------------------------------


def _check_cstr(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{name} {value!r} contains a NUL")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{name} {value!r} has characters outside Latin-1") from None
    if len(value) >= SIZES[name]:
        raise ValueError(f"{name} is {len(value)} octets; SMPP allows at most {SIZES[name] - 1}")


def _check_int(name: str, value: object, bits: int) -> None:
    if not isinstance(value, int):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name}={value} does not fit in {bits // 8} octet(s)")


def _check_octets(name: str, value: object, max_length: int) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    if len(value) > max_length:
        raise ValueError(f"{name} is {len(value)} octets; at most {max_length}")


def validate(pdu: PduBase) -> None:
    """Raise ValueError (TypeError for a wrong type) naming the first field SMPP cannot carry.

    encode() runs this only when its fast path fails, to say which field is at fault.
    """
    for field in fields(pdu):  # type: ignore[arg-type]
        name, value = field.name, getattr(pdu, field.name)
        if value is None and field.default is None:  # an absent TLV
            continue
        if name in SIZES:
            _check_cstr(name, value)
        elif name == "short_message":
            _check_octets(name, value, MAX_SHORT_MESSAGE)
        elif name == "message_payload":
            _check_octets(name, value, 0xFFFF)
        elif name == "network_error_code":
            _check_octets(name, value, 3)
            if len(value) != 3:
                raise ValueError(f"network_error_code must be 3 octets, not {len(value)}")
        elif name == "extra_tlvs":
            for tag, tlv_value in value:
                _check_int("extra TLV tag", tag, 16)
                if tag in SHORT_MESSAGE_TAGS:
                    raise ValueError(f"TLV 0x{tag:04X} has its own field ({Tag(tag).name.lower()}); not extra_tlvs")
                _check_octets(f"TLV 0x{tag:04X}", tlv_value, 0xFFFF)
        else:
            _check_int(name, value, _INT_BITS.get(name, 8))
    if isinstance(pdu, _ShortMessage) and pdu.message_payload is not None and pdu.short_message:
        raise ValueError("short_message must be empty when message_payload is used")


# -- encoding ------------------------------------------------------------------------------------------------

_SM_HEAD = "%s\0%c%c%s\0%c%c%s\0%c%c%c%s\0%s\0%c%c%c%c%c"
_BIND_BODY = "%s\0%s\0%s\0%c%c%c%s\0"


def _encode_short_message(pdu: _ShortMessage) -> bytes:
    service_type, source_addr, destination_addr = pdu.service_type, pdu.source_addr, pdu.destination_addr
    schedule, validity, sm = pdu.schedule_delivery_time, pdu.validity_period, pdu.short_message
    try:
        if (
            len(service_type) > 5 or len(source_addr) > 20 or len(destination_addr) > 20 or len(schedule) > 16
            or len(validity) > 16 or len(sm) > MAX_SHORT_MESSAGE
            or "\0" in service_type + source_addr + destination_addr + schedule + validity
        ):  # fmt: skip
            raise ValueError  # validate() below names the field
        head = _SM_HEAD % (
            service_type, pdu.source_addr_ton, pdu.source_addr_npi, source_addr, pdu.dest_addr_ton,
            pdu.dest_addr_npi, destination_addr, pdu.esm_class, pdu.protocol_id, pdu.priority_flag, schedule,
            validity, pdu.registered_delivery, pdu.replace_if_present_flag, pdu.data_coding,
            pdu.sm_default_msg_id, len(sm),
        )  # fmt: skip
        return head.encode("latin-1") + sm + _short_message_tlvs(pdu)
    except (ValueError, TypeError, OverflowError, struct.error):
        validate(pdu)
        raise


def _short_message_tlvs(pdu: _ShortMessage) -> bytes:
    """The TLVs in the order of the SMPP 3.4 tables (4.4.1 / 4.6.1), then the unknown ones as received."""
    out = []
    if (value := pdu.user_message_reference) is not None:
        out.append(_TLV_U16.pack(_USER_MESSAGE_REFERENCE, 2, value))
    if (value := pdu.sar_msg_ref_num) is not None:
        out.append(_TLV_U16.pack(_SAR_MSG_REF_NUM, 2, value))
    if (value := pdu.sar_total_segments) is not None:
        out.append(_TLV_U8.pack(_SAR_TOTAL_SEGMENTS, 1, value))
    if (value := pdu.sar_segment_seqnum) is not None:
        out.append(_TLV_U8.pack(_SAR_SEGMENT_SEQNUM, 1, value))
    if (payload := pdu.message_payload) is not None:
        if pdu.short_message:
            raise ValueError("short_message must be empty when message_payload is used")
        out.append(_TLV_HEAD.pack(_MESSAGE_PAYLOAD, len(payload)) + payload)
    if (octets := pdu.network_error_code) is not None:
        if len(octets) != 3:
            raise ValueError("network_error_code must be 3 octets")
        out.append(_TLV_HEAD.pack(_NETWORK_ERROR_CODE, 3) + octets)
    if (value := pdu.message_state) is not None:
        out.append(_TLV_U8.pack(_MESSAGE_STATE, 1, value))
    if (text := pdu.receipted_message_id) is not None:
        if len(text) > 64 or "\0" in text:
            raise ValueError("bad receipted_message_id")
        out.append(_TLV_HEAD.pack(_RECEIPTED_MESSAGE_ID, len(text) + 1) + text.encode("latin-1") + b"\0")
    for tag, octets in pdu.extra_tlvs:
        if tag in SHORT_MESSAGE_TAGS:
            raise ValueError("a modelled TLV in extra_tlvs")
        out.append(_TLV_HEAD.pack(tag, len(octets)) + octets)
    return b"".join(out)


def _encode_bind(pdu: _Bind) -> bytes:
    system_id, password, system_type, address_range = pdu.system_id, pdu.password, pdu.system_type, pdu.address_range
    try:
        if (
            len(system_id) > 15 or len(password) > 8 or len(system_type) > 12 or len(address_range) > 40
            or "\0" in system_id + password + system_type + address_range
        ):  # fmt: skip
            raise ValueError  # validate() below names the field
        body = _BIND_BODY % (
            system_id, password, system_type, pdu.interface_version, pdu.addr_ton, pdu.addr_npi, address_range
        )  # fmt: skip
        return body.encode("latin-1")
    except (ValueError, TypeError, OverflowError):
        validate(pdu)
        raise


def _encode_bind_resp(pdu: _BindResp) -> bytes:
    try:
        if len(pdu.system_id) > 15 or "\0" in pdu.system_id:
            raise ValueError  # validate() below names the field
        body = pdu.system_id.encode("latin-1") + b"\0"
        if pdu.sc_interface_version is not None:
            body += _TLV_U8.pack(_SC_INTERFACE_VERSION, 1, pdu.sc_interface_version)
        return body
    except (ValueError, TypeError, struct.error):
        validate(pdu)
        raise


def _encode_message_id(pdu: SubmitSmResp | DeliverSmResp) -> bytes:
    message_id = pdu.message_id
    try:
        if len(message_id) > 64 or "\0" in message_id:
            raise ValueError  # validate() below names the field
        return message_id.encode("latin-1") + b"\0"
    except (ValueError, TypeError):
        validate(pdu)
        raise


def _encode_empty(pdu: PduBase) -> bytes:
    return b""


def encode(pdu: PduBase) -> bytes:
    """The PDU's wire form, header included. Raises ValueError for a field SMPP cannot carry (never truncates)."""
    encoder = _ENCODERS.get(type(pdu))
    if encoder is None:
        raise TypeError(f"cannot encode {type(pdu).__name__}")
    body = encoder(pdu)
    length = HEADER_LENGTH + len(body)
    if length > MAX_PDU_LENGTH:
        raise ValueError(f"the PDU would be {length} octets; at most {MAX_PDU_LENGTH}")
    try:
        return HEADER.pack(length, pdu.command_id, pdu.command_status, pdu.sequence_number) + body
    except struct.error:
        validate(pdu)
        raise


# Raw frames for the two PDUs sent once per message (no dataclass built): byte for byte what encode() writes
# for the same fields (tests/test_smpp_codec.py checks), sequence number 0 (the Connection numbers requests).
_SUBMIT_SM_ID, _DELIVER_SM_RESP_ID = int(CommandId.SUBMIT_SM), int(CommandId.DELIVER_SM_RESP)


def submit_sm_frame(
    source_addr_ton: int, source_addr: str, dest_addr_ton: int, dest_addr_npi: int, destination_addr: str,
    esm_class: int, registered_delivery: int, validity_period: str, data_coding: int, short_message: bytes,
) -> bytes:  # fmt: skip
    """encode(SubmitSm(...)) for a submit_sm with these fields set and the others at their defaults."""
    if (
        len(short_message) > MAX_SHORT_MESSAGE or len(validity_period) > 16 or len(source_addr) > 20
        or len(destination_addr) > 20 or "\0" in source_addr + destination_addr + validity_period
    ):  # fmt: skip
        raise ValueError(
            f"submit_sm cannot carry source {source_addr!r}, destination {destination_addr!r}, validity "
            f"{validity_period!r} or {len(short_message)} octets of short_message"
        )
    head = _SM_HEAD % (
        "", source_addr_ton, 0, source_addr, dest_addr_ton, dest_addr_npi, destination_addr, esm_class, 0, 0, "",
        validity_period, registered_delivery, 0, data_coding, 0, len(short_message),
    )  # fmt: skip
    body = head.encode("latin-1") + short_message
    return HEADER.pack(HEADER_LENGTH + len(body), _SUBMIT_SM_ID, 0, 0) + body


def deliver_sm_resp_frame(sequence_number: int, command_status: int = 0) -> bytes:
    """encode(DeliverSmResp(sequence_number=..., command_status=...))."""
    return HEADER.pack(HEADER_LENGTH + 1, _DELIVER_SM_RESP_ID, command_status, sequence_number) + b"\0"


# -- decoding ------------------------------------------------------------------------------------------------

# Mandatory parameters as (name, is_c_octet_string); the regexes below are built from them.
_SM_LAYOUT = (
    ("service_type", True), ("source_addr_ton", False), ("source_addr_npi", False), ("source_addr", True),
    ("dest_addr_ton", False), ("dest_addr_npi", False), ("destination_addr", True), ("esm_class", False),
    ("protocol_id", False), ("priority_flag", False), ("schedule_delivery_time", True),
    ("validity_period", True), ("registered_delivery", False), ("replace_if_present_flag", False),
    ("data_coding", False), ("sm_default_msg_id", False), ("sm_length", False),
)  # fmt: skip
_BIND_LAYOUT = (
    ("system_id", True), ("password", True), ("system_type", True), ("interface_version", False),
    ("addr_ton", False), ("addr_npi", False), ("address_range", True),
)  # fmt: skip


def _layout_regex(layout: tuple[tuple[str, bool], ...]) -> re.Pattern[bytes]:
    """One group per C-Octet String (without its NUL), one group per run of one-octet integers."""
    pattern, run = [], 0
    for name, is_cstr in layout:
        if is_cstr:
            if run:
                pattern.append(b"(" + b"." * run + b")")
                run = 0
            pattern.append(b"([^\0]{0,%d})\0" % (SIZES[name] - 1))
        else:
            run += 1
    if run:
        pattern.append(b"(" + b"." * run + b")")
    return re.compile(b"".join(pattern), re.DOTALL)


_SM_RE = _layout_regex(_SM_LAYOUT)
_BIND_RE = _layout_regex(_BIND_LAYOUT)


def _cstr_error(frame: bytes, pos: int, name: str) -> _Malformed:
    """Why no NUL was found for C-Octet String `name` starting at `pos`."""
    size = SIZES[name]
    if len(frame) - pos < size:
        return _Malformed(f"{name} is not NUL-terminated before the end of the PDU", _RINVCMDLEN)
    return _Malformed(f"{name} is not NUL-terminated within {size} octets", _OVERLONG_STATUS.get(name, _RSYSERR))


def _diagnose(frame: bytes, layout: tuple[tuple[str, bool], ...]) -> NoReturn:
    """Walk the mandatory parameters one by one to say which one is broken (the regex only said "no")."""
    pos, end = HEADER_LENGTH, len(frame)
    for name, is_cstr in layout:
        if is_cstr:
            nul = frame.find(b"\0", pos, pos + SIZES[name])
            if nul < 0:
                raise _cstr_error(frame, pos, name)
            pos = nul + 1
        elif pos >= end:
            raise _Malformed(f"the PDU ends before {name}", _RINVCMDLEN)
        else:
            pos += 1
    raise _Malformed("malformed mandatory parameters")  # unreachable while the regex and the layout agree


def _tlvs(frame: bytes, pos: int) -> list[tuple[int, bytes]]:
    """The (tag, value) pairs from `pos` to the end of the PDU."""
    end = len(frame)
    found = []
    while pos < end:
        if end - pos < 4:
            raise _Malformed(f"{end - pos} octet(s) after the last parameter: not a TLV", _RINVOPTPARSTREAM)
        tag, length = _TLV_HEAD.unpack_from(frame, pos)
        pos += 4
        if pos + length > end:
            raise _Malformed(f"TLV 0x{tag:04X} of length {length} runs past the end of the PDU", _RINVOPTPARSTREAM)
        found.append((tag, frame[pos : pos + length]))
        pos += length
    return found


def _tlv_fixed(tag: int, value: bytes) -> bytes:
    """The value of a fixed-size TLV, checked against its size."""
    if len(value) != _FIXED_TLV_SIZES[tag]:
        raise _Malformed(f"TLV 0x{tag:04X} has length {len(value)}, not {_FIXED_TLV_SIZES[tag]}", _RINVPARLEN)
    return value


def _tlv_int(tag: int, value: bytes) -> int:
    return int.from_bytes(_tlv_fixed(tag, value), "big")


# submit_sm / deliver_sm are built through their slots, in this order (checked against the dataclass below).
_SM_FIELDS = (
    "sequence_number", "command_status", "service_type", "source_addr_ton", "source_addr_npi", "source_addr",
    "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class", "protocol_id", "priority_flag",
    "schedule_delivery_time", "validity_period", "registered_delivery", "replace_if_present_flag", "data_coding",
    "sm_default_msg_id", "short_message", "receipted_message_id", "message_state", "network_error_code",
    "sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum", "message_payload", "user_message_reference",
    "extra_tlvs",
)  # fmt: skip
if set(_SM_FIELDS) != {f.name for f in fields(_ShortMessage)} or len(_SM_FIELDS) != len(fields(_ShortMessage)):
    raise RuntimeError("codec._SM_FIELDS is out of step with pdus._ShortMessage")


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None], ...]:
    def setter(name: str) -> Callable[[object, object], None]:
        return next(klass.__dict__[name].__set__ for klass in cls.__mro__ if name in klass.__dict__)

    return tuple(setter(name) for name in names)


_SM_SETTERS = _slot_setters(_ShortMessage, _SM_FIELDS)
_new = object.__new__


def _decode_short_message(cls: type[_ShortMessage], frame: bytes, seq: int, status: int) -> _ShortMessage:
    match = _SM_RE.match(frame, HEADER_LENGTH)
    if match is None:
        _diagnose(frame, _SM_LAYOUT)
    (
        service_type, (source_addr_ton, source_addr_npi), source_addr, (dest_addr_ton, dest_addr_npi),
        destination_addr, (esm_class, protocol_id, priority_flag), schedule, validity,
        (registered, replace, data_coding, default_msg_id, sm_length),
    ) = match.groups()  # fmt: skip
    if sm_length > MAX_SHORT_MESSAGE:
        raise _Malformed(f"sm_length {sm_length}; at most {MAX_SHORT_MESSAGE}", CommandStatus.ESME_RINVMSGLEN)
    start = match.end()
    end = start + sm_length
    if end > len(frame):
        raise _Malformed(f"sm_length {sm_length} but {len(frame) - start} octets left", CommandStatus.ESME_RINVMSGLEN)
    receipted = state = network_error = ref_num = total = seqnum = payload = user_ref = None
    extra = []
    if end < len(frame):
        for tag, value in _tlvs(frame, end):
            if tag == _RECEIPTED_MESSAGE_ID:
                nul = value.find(b"\0")  # tolerate a missing NUL: it is the receipt's key
                receipted = (value if nul < 0 else value[:nul]).decode("latin-1")
            elif tag == _MESSAGE_STATE:
                state = _tlv_int(tag, value)
            elif tag == _NETWORK_ERROR_CODE:
                network_error = _tlv_fixed(tag, value)
            elif tag == _MESSAGE_PAYLOAD:
                payload = value
            elif tag == _SAR_MSG_REF_NUM:
                ref_num = _tlv_int(tag, value)
            elif tag == _SAR_TOTAL_SEGMENTS:
                total = _tlv_int(tag, value)
            elif tag == _SAR_SEGMENT_SEQNUM:
                seqnum = _tlv_int(tag, value)
            elif tag == _USER_MESSAGE_REFERENCE:
                user_ref = _tlv_int(tag, value)
            else:
                extra.append((tag, value))
    if payload is not None and sm_length:  # as validate() refuses to encode it (SMPP 3.4 5.3.2.32)
        raise _Malformed("short_message must be empty when message_payload is used", CommandStatus.ESME_RINVMSGLEN)
    values = (
        seq, status, service_type.decode("latin-1"), source_addr_ton, source_addr_npi, source_addr.decode("latin-1"),
        dest_addr_ton, dest_addr_npi, destination_addr.decode("latin-1"), esm_class, protocol_id, priority_flag,
        schedule.decode("latin-1"), validity.decode("latin-1"), registered, replace, data_coding, default_msg_id,
        frame[start:end], receipted, state, network_error, ref_num, total, seqnum, payload, user_ref, tuple(extra),
    )  # fmt: skip
    pdu = _new(cls)
    for set_slot, value in zip(_SM_SETTERS, values, strict=True):
        set_slot(pdu, value)
    return pdu


def _decode_message_id(cls: type[SubmitSmResp | DeliverSmResp], frame: bytes, seq: int, status: int) -> PduBase:
    message_id = ""
    if len(frame) > HEADER_LENGTH:  # the body may be absent on an error status
        nul = frame.find(b"\0", HEADER_LENGTH, HEADER_LENGTH + 65)
        if nul < 0:
            raise _cstr_error(frame, HEADER_LENGTH, "message_id")
        message_id = frame[HEADER_LENGTH:nul].decode("latin-1")
        if nul + 1 < len(frame):
            _tlvs(frame, nul + 1)  # SMPP 5.0 adds TLVs here: checked, ignored
    return cls(sequence_number=seq, command_status=status, message_id=message_id)


def _decode_bind(cls: type[_Bind], frame: bytes, seq: int, status: int) -> PduBase:
    match = _BIND_RE.match(frame, HEADER_LENGTH)
    if match is None:
        _diagnose(frame, _BIND_LAYOUT)
    system_id, password, system_type, (version, ton, npi), address_range = match.groups()
    _tlvs(frame, match.end())  # none defined for binds in 3.4: checked, ignored
    return cls(
        sequence_number=seq, command_status=status, system_id=system_id.decode("latin-1"),
        password=password.decode("latin-1"), system_type=system_type.decode("latin-1"), interface_version=version,
        addr_ton=ton, addr_npi=npi, address_range=address_range.decode("latin-1"),
    )  # fmt: skip


def _decode_bind_resp(cls: type[_BindResp], frame: bytes, seq: int, status: int) -> PduBase:
    system_id, version = "", None
    if len(frame) > HEADER_LENGTH:  # the body may be absent on an error status
        nul = frame.find(b"\0", HEADER_LENGTH, HEADER_LENGTH + SIZES["system_id"])
        if nul < 0:
            raise _cstr_error(frame, HEADER_LENGTH, "system_id")
        system_id = frame[HEADER_LENGTH:nul].decode("latin-1")
        for tag, value in _tlvs(frame, nul + 1):
            if tag == _SC_INTERFACE_VERSION:
                if len(value) != 1:
                    raise _Malformed(f"TLV 0x{tag:04X} has length {len(value)}, not 1", _RINVPARLEN)
                version = value[0]
    return cls(sequence_number=seq, command_status=status, system_id=system_id, sc_interface_version=version)


def _decode_header_only(cls: type[PduBase], frame: bytes, seq: int, status: int) -> PduBase:
    if len(frame) != HEADER_LENGTH:
        raise _Malformed(f"{len(frame) - HEADER_LENGTH} octet(s) of body; this PDU has none", _RINVCMDLEN)
    return cls(sequence_number=seq, command_status=status)


_Encoder = Callable[[Any], bytes]
_Decoder = Callable[[Any, bytes, int, int], Any]


def _coders(cls: type[PduBase]) -> tuple[_Encoder, _Decoder]:
    """How a PDU class's body is written and read, by what the body holds."""
    if issubclass(cls, _ShortMessage):
        return _encode_short_message, _decode_short_message
    if issubclass(cls, _Bind):
        return _encode_bind, _decode_bind
    if issubclass(cls, _BindResp):
        return _encode_bind_resp, _decode_bind_resp
    body = {f.name for f in fields(cls)} - {f.name for f in fields(PduBase)}  # type: ignore[arg-type]
    if body == {"message_id"}:
        return _encode_message_id, _decode_message_id
    if not body:
        return _encode_empty, _decode_header_only
    raise TypeError(f"no codec for {cls.__name__}")


_ENCODERS: dict[type, _Encoder] = {cls: _coders(cls)[0] for cls in PDU_CLASSES.values()}
_DECODERS: dict[int, tuple[_Decoder, type[PduBase]]] = {
    int(command_id): (_coders(cls)[1], cls) for command_id, cls in PDU_CLASSES.items()
}
_COMMAND_NAMES = {int(command): command.name.lower() for command in CommandId}


def decode(frame: bytes) -> Pdu:
    """Decode one whole PDU (header included).

    Raises InvalidPduError for anything malformed (see its docstring for the statuses), FramingError only
    if `frame` is shorter than a header.
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    if len(frame) < HEADER_LENGTH:
        raise FramingError(f"{len(frame)} octets is shorter than an SMPP header")
    length, command_id, status, seq = HEADER.unpack_from(frame)
    if length != len(frame):
        raise InvalidPduError(command_id, seq, _RINVCMDLEN, f"command_length {length} but {len(frame)} octets")
    entry = _DECODERS.get(command_id)
    if entry is None:
        name = _COMMAND_NAMES.get(command_id)
        reason = f"{name} is not supported" if name else f"unknown command_id 0x{command_id:08X}"
        raise InvalidPduError(command_id, seq, CommandStatus.ESME_RINVCMDID, reason)
    decoder, cls = entry
    try:
        return decoder(cls, frame, seq, status)  # type: ignore[no-any-return]
    except _Malformed as exc:
        reason = f"{_COMMAND_NAMES[command_id]} #{seq}: {exc.reason}"
        raise InvalidPduError(command_id, seq, exc.status, reason) from None


def error_response(err: InvalidPduError) -> Pdu:
    """What to answer an undecodable PDU with: its own *_resp with err.command_status for a request we know,
    else (unknown command, or a response) generic_nack; both keep its sequence number."""
    request = PDU_CLASSES.get(err.command_id)
    response = REQUEST_TO_RESPONSE.get(request) if request is not None else None  # type: ignore[arg-type]
    if response is None:
        return GenericNack(sequence_number=err.sequence_number, command_status=err.command_status)
    return response(sequence_number=err.sequence_number, command_status=err.command_status)  # type: ignore[return-value]
