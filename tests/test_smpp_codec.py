"""The SMPP 3.4 PDU codec: exact wire layout, round trips, malformed input, encode-side limits."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxsms.channels.smpp import (
    REQUEST_TO_RESPONSE,
    THROTTLING_STATUSES,
    TRANSIENT_FAILURE_STATUSES,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandId,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    FramingError,
    GenericNack,
    InvalidPduError,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
    decode,
    deliver_sm_resp_frame,
    encode,
    error_response,
    response_for,
    status_name,
    submit_sm_frame,
)
from taxsms.channels.smpp.codec import SHORT_MESSAGE_TAGS, SIZES

HEADER = struct.Struct(">IIII")
S = CommandStatus


def frame(command_id: int, body: bytes, *, seq: int = 7, status: int = 0) -> bytes:
    """A PDU with a correct command_length around `body`."""
    return HEADER.pack(16 + len(body), command_id, status, seq) + body


def sm_body(
    *, source: bytes = b"12366", dest: bytes = b"8613800138000", sm: bytes = b"hi", sm_length: int | None = None
) -> bytes:
    """A submit_sm/deliver_sm body written by hand from the SMPP 3.4 table (section 4.4.1)."""
    return (
        b"\0"  # service_type
        + b"\x05\x00" + source + b"\0"  # source_addr_ton, _npi, source_addr
        + b"\x01\x01" + dest + b"\0"  # dest_addr_ton, _npi, destination_addr
        + b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
        + b"\0\0"  # schedule_delivery_time, validity_period
        + b"\x01\x00\x08\x00"  # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
        + bytes([len(sm) if sm_length is None else sm_length]) + sm
    )  # fmt: skip


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


# -- strategies (also used by test_smpp_reader) --------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
_latin1_no_nul = st.characters(min_codepoint=1, max_codepoint=0xFF)


def cstr(name: str) -> st.SearchStrategy[str]:
    return st.text(_latin1_no_nul, max_size=SIZES[name] - 1)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


extra_tlvs = st.lists(
    st.tuples(u16.filter(lambda tag: tag not in SHORT_MESSAGE_TAGS), st.binary(max_size=16)), max_size=3
).map(tuple)


@st.composite
def short_messages(draw: st.DrawFn, cls: type[SubmitSm] | type[DeliverSm]) -> SubmitSm | DeliverSm:
    use_payload = draw(st.booleans())
    return cls(
        sequence_number=draw(u32), command_status=draw(u32), service_type=draw(cstr("service_type")),
        source_addr_ton=draw(u8), source_addr_npi=draw(u8), source_addr=draw(cstr("source_addr")),
        dest_addr_ton=draw(u8), dest_addr_npi=draw(u8), destination_addr=draw(cstr("destination_addr")),
        esm_class=draw(u8), protocol_id=draw(u8), priority_flag=draw(u8),
        schedule_delivery_time=draw(cstr("schedule_delivery_time")), validity_period=draw(cstr("validity_period")),
        registered_delivery=draw(u8), replace_if_present_flag=draw(u8), data_coding=draw(u8),
        sm_default_msg_id=draw(u8), short_message=b"" if use_payload else draw(st.binary(max_size=254)),
        message_payload=draw(st.binary(max_size=600)) if use_payload else None,
        receipted_message_id=draw(optional(cstr("receipted_message_id"))), message_state=draw(optional(u8)),
        network_error_code=draw(optional(st.binary(min_size=3, max_size=3))), sar_msg_ref_num=draw(optional(u16)),
        sar_total_segments=draw(optional(u8)), sar_segment_seqnum=draw(optional(u8)),
        user_message_reference=draw(optional(u16)), extra_tlvs=draw(extra_tlvs),
    )  # fmt: skip


def _binds(cls: type) -> st.SearchStrategy[Any]:
    return st.builds(
        cls, sequence_number=u32, command_status=u32, system_id=cstr("system_id"), password=cstr("password"),
        system_type=cstr("system_type"), interface_version=u8, addr_ton=u8, addr_npi=u8,
        address_range=cstr("address_range"),
    )  # fmt: skip


def _bind_resps(cls: type) -> st.SearchStrategy[Any]:
    return st.builds(
        cls, sequence_number=u32, command_status=u32, system_id=cstr("system_id"), sc_interface_version=optional(u8)
    )


def _header_only(cls: type) -> st.SearchStrategy[Any]:
    return st.builds(cls, sequence_number=u32, command_status=u32)


any_pdu: st.SearchStrategy[Any] = st.one_of(
    short_messages(SubmitSm),
    short_messages(DeliverSm),
    *(_binds(cls) for cls in (BindTransmitter, BindReceiver, BindTransceiver)),
    *(_bind_resps(cls) for cls in (BindTransmitterResp, BindReceiverResp, BindTransceiverResp)),
    *(st.builds(cls, sequence_number=u32, command_status=u32, message_id=cstr("message_id"))
      for cls in (SubmitSmResp, DeliverSmResp)),
    *(_header_only(cls) for cls in (EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack)),
)  # fmt: skip


# -- exact bytes ---------------------------------------------------------------------------------------------


def test_submit_sm_bytes_follow_the_spec_table() -> None:
    pdu = SubmitSm(
        sequence_number=7, source_addr_ton=5, source_addr="12366", dest_addr_ton=1, dest_addr_npi=1,
        destination_addr="8613800138000", registered_delivery=1, data_coding=8, short_message=b"hi",
    )  # fmt: skip
    assert encode(pdu) == frame(CommandId.SUBMIT_SM, sm_body())
    assert encode(pdu)[:4] == struct.pack(">I", len(encode(pdu)))


def test_header_only_pdus_are_sixteen_octets() -> None:
    assert encode(EnquireLink(sequence_number=1)) == bytes.fromhex("00000010 00000015 00000000 00000001")
    assert encode(GenericNack(sequence_number=9, command_status=3)) == bytes.fromhex(
        "00000010 80000000 00000003 00000009"
    )


def test_bind_bytes() -> None:
    pdu = BindTransceiver(sequence_number=1, system_id="tax", password="pw", system_type="SMS", addr_ton=1)
    body = b"tax\0pw\0SMS\0\x34\x01\x00\0"
    assert encode(pdu) == frame(CommandId.BIND_TRANSCEIVER, body, seq=1)


def test_empty_strings_are_a_single_nul() -> None:
    assert encode(SubmitSmResp(sequence_number=3)) == frame(CommandId.SUBMIT_SM_RESP, b"\0", seq=3)
    assert encode(BindTransmitterResp(sequence_number=3)) == frame(CommandId.BIND_TRANSMITTER_RESP, b"\0", seq=3)


def test_tlvs_are_written_in_spec_order_then_unknown_ones() -> None:
    pdu = DeliverSm(
        sequence_number=1, esm_class=4, receipted_message_id="ab", message_state=2, network_error_code=b"\x03\x00\x01",
        sar_msg_ref_num=0x1234, sar_total_segments=2, sar_segment_seqnum=1, user_message_reference=9,
        extra_tlvs=((0x1401, b"x"),),
    )  # fmt: skip
    tail = encode(pdu)[16 + len(sm_body(source=b"", dest=b"", sm=b"")) :]
    assert tail == (
        tlv(Tag.USER_MESSAGE_REFERENCE, b"\x00\x09")
        + tlv(Tag.SAR_MSG_REF_NUM, b"\x12\x34")
        + tlv(Tag.SAR_TOTAL_SEGMENTS, b"\x02")
        + tlv(Tag.SAR_SEGMENT_SEQNUM, b"\x01")
        + tlv(Tag.NETWORK_ERROR_CODE, b"\x03\x00\x01")
        + tlv(Tag.MESSAGE_STATE, b"\x02")
        + tlv(Tag.RECEIPTED_MESSAGE_ID, b"ab\0")
        + tlv(0x1401, b"x")
    )


def test_message_payload_goes_in_a_tlv_with_sm_length_zero() -> None:
    data = encode(SubmitSm(sequence_number=1, message_payload=b"p" * 300))
    assert data.endswith(b"\x00" + tlv(Tag.MESSAGE_PAYLOAD, b"p" * 300))  # sm_length 0, no short_message


# -- round trips ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pdu",
    [
        BindTransmitter(sequence_number=1, system_id="taxsms", password="secret", system_type="SMS"),
        BindReceiver(sequence_number=2, system_id="r", address_range="^1236.*"),
        BindTransceiver(sequence_number=3, system_id="t", interface_version=0x33, addr_ton=1, addr_npi=1),
        BindTransmitterResp(sequence_number=1, system_id="SMSC"),
        BindReceiverResp(sequence_number=2, system_id="SMSC", sc_interface_version=0x34),
        BindTransceiverResp(sequence_number=3, command_status=S.ESME_RBINDFAIL),
        SubmitSm(sequence_number=4, source_addr="12366", destination_addr="8613800138000", short_message=b"hi"),
        SubmitSm(
            sequence_number=5,
            esm_class=0x40,
            data_coding=8,
            short_message=b"\x05\x00\x03\x01\x02\x01" + b"\x4e\x2d",
            sar_msg_ref_num=1,
            sar_total_segments=2,
            sar_segment_seqnum=1,
            user_message_reference=42,
        ),
        SubmitSm(sequence_number=6, message_payload=b"long" * 100, extra_tlvs=((0x1500, b""), (0x0005, b"\x01"))),
        DeliverSm(sequence_number=7, source_addr="8613800138000", destination_addr="12366", short_message=b"MO"),
        DeliverSm(
            sequence_number=8,
            esm_class=4,
            short_message=b"id:1 stat:DELIVRD",
            receipted_message_id="1",
            message_state=2,
            network_error_code=b"\x03\x00\x00",
        ),
        SubmitSmResp(sequence_number=9, message_id="0a1b2c3d"),
        SubmitSmResp(sequence_number=9, command_status=S.ESME_RTHROTTLED),
        DeliverSmResp(sequence_number=10),
        EnquireLink(sequence_number=11),
        EnquireLinkResp(sequence_number=11),
        Unbind(sequence_number=12),
        UnbindResp(sequence_number=12),
        GenericNack(sequence_number=13, command_status=S.ESME_RINVCMDID),
    ],
    ids=lambda pdu: type(pdu).__name__,
)
def test_round_trip(pdu: Any) -> None:
    data = encode(pdu)
    decoded = decode(data)
    assert type(decoded) is type(pdu)
    assert decoded == pdu
    assert encode(decoded) == data


@given(any_pdu)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_any_pdu(pdu: Any) -> None:
    data = encode(pdu)
    assert decode(data) == pdu
    assert decode(bytearray(data)) == pdu  # bytearray and memoryview are accepted too
    assert decode(memoryview(data)) == pdu


def test_decoded_octet_fields_are_bytes_even_from_a_bytearray() -> None:
    pdu = decode(bytearray(encode(DeliverSm(sequence_number=1, short_message=b"x"))))
    assert type(pdu.short_message) is bytes


def test_unknown_tlvs_are_kept_wherever_they_are_and_written_back() -> None:
    body = sm_body(sm=b"id:5") + tlv(0x1401, b"vendor") + tlv(Tag.MESSAGE_STATE, b"\x02") + tlv(0x3000, b"")
    pdu = decode(frame(CommandId.DELIVER_SM, body))
    assert isinstance(pdu, DeliverSm)
    assert pdu.message_state == 2
    assert pdu.extra_tlvs == ((0x1401, b"vendor"), (0x3000, b""))
    assert decode(encode(pdu)) == pdu


def test_tlvs_on_binds_and_resps_are_skipped() -> None:
    bind = encode(BindTransmitter(sequence_number=1, system_id="a"))
    bind = frame(CommandId.BIND_TRANSMITTER, bind[16:] + tlv(0x1400, b"zz"), seq=1)
    assert decode(bind) == BindTransmitter(sequence_number=1, system_id="a")
    resp = frame(CommandId.SUBMIT_SM_RESP, b"abc\0" + tlv(0x0425, b"\x01"))  # SMPP 5.0 style
    assert decode(resp) == SubmitSmResp(sequence_number=7, message_id="abc")
    bind_resp = frame(CommandId.BIND_TRANSCEIVER_RESP, b"S\0" + tlv(0x1400, b"") + tlv(Tag.SC_INTERFACE_VERSION, b"4"))
    assert decode(bind_resp) == BindTransceiverResp(sequence_number=7, system_id="S", sc_interface_version=0x34)


def test_receipted_message_id_without_its_nul_is_tolerated() -> None:
    pdu = decode(frame(CommandId.DELIVER_SM, sm_body() + tlv(Tag.RECEIPTED_MESSAGE_ID, b"abc")))
    assert isinstance(pdu, DeliverSm)
    assert pdu.receipted_message_id == "abc"


def test_resps_without_body_on_error_status() -> None:
    assert decode(frame(CommandId.SUBMIT_SM_RESP, b"", status=0x45)) == SubmitSmResp(
        sequence_number=7, command_status=0x45
    )
    assert decode(frame(CommandId.BIND_TRANSCEIVER_RESP, b"", status=0x0E)) == BindTransceiverResp(
        sequence_number=7, command_status=0x0E
    )


def test_text_bytes_prefers_message_payload() -> None:
    assert SubmitSm(sequence_number=1, short_message=b"a").text_bytes == b"a"
    assert DeliverSm(sequence_number=1, message_payload=b"b").text_bytes == b"b"
    assert DeliverSm(sequence_number=1, message_payload=b"").text_bytes == b""


# -- malformed input -----------------------------------------------------------------------------------------


def invalid(data: bytes) -> InvalidPduError:
    with pytest.raises(InvalidPduError) as info:
        decode(data)
    return info.value


def test_unknown_command_id() -> None:
    err = invalid(frame(0x00000099, b"whatever", seq=77))
    assert (err.command_id, err.sequence_number, err.command_status) == (0x99, 77, S.ESME_RINVCMDID)
    assert error_response(err) == GenericNack(sequence_number=77, command_status=S.ESME_RINVCMDID)


def test_known_but_unsupported_command_gets_generic_nack() -> None:
    err = invalid(frame(CommandId.QUERY_SM, b"1\0\0\0\0", seq=5))
    assert err.command_status == S.ESME_RINVCMDID
    assert "query_sm" in err.reason
    assert error_response(err) == GenericNack(sequence_number=5, command_status=S.ESME_RINVCMDID)


def test_sm_length_beyond_the_body() -> None:
    err = invalid(frame(CommandId.SUBMIT_SM, sm_body(sm=b"abc", sm_length=10), seq=21))
    assert err.command_status == S.ESME_RINVMSGLEN
    assert error_response(err) == SubmitSmResp(sequence_number=21, command_status=S.ESME_RINVMSGLEN)


def test_sm_length_255_is_rejected() -> None:
    assert invalid(frame(CommandId.SUBMIT_SM, sm_body(sm=b"x" * 255))).command_status == S.ESME_RINVMSGLEN


def test_every_truncation_of_a_submit_sm_is_invalid() -> None:
    whole = encode(
        SubmitSm(sequence_number=3, source_addr="12366", destination_addr="86138", short_message=b"hello",
                 sar_msg_ref_num=1, sar_total_segments=2, sar_segment_seqnum=1)
    )  # fmt: skip
    tlvs_start = len(whole) - (6 + 5 + 5)
    tlv_boundaries = {tlvs_start, tlvs_start + 6, tlvs_start + 11}  # a shorter but valid PDU
    statuses = set()
    for cut in range(16, len(whole)):
        if cut in tlv_boundaries:
            assert isinstance(decode(frame(CommandId.SUBMIT_SM, whole[16:cut], seq=3)), SubmitSm)
            continue
        err = invalid(frame(CommandId.SUBMIT_SM, whole[16:cut], seq=3))
        assert err.sequence_number == 3
        statuses.add((cut < tlvs_start - 5, err.command_status))
        assert isinstance(error_response(err), SubmitSmResp)
    assert statuses == {
        (True, S.ESME_RINVCMDLEN),  # in the mandatory parameters
        (False, S.ESME_RINVMSGLEN),  # in short_message
        (False, S.ESME_RINVOPTPARSTREAM),  # in a TLV
    }


def test_missing_nul_at_the_end_of_the_body() -> None:
    err = invalid(frame(CommandId.SUBMIT_SM, b"\0\x00\x00" + b"1236"))
    assert err.command_status == S.ESME_RINVCMDLEN
    assert "source_addr" in err.reason


def test_over_long_c_strings_get_the_fields_own_status() -> None:
    assert invalid(frame(CommandId.SUBMIT_SM, sm_body(source=b"1" * 21))).command_status == S.ESME_RINVSRCADR
    assert invalid(frame(CommandId.SUBMIT_SM, sm_body(dest=b"1" * 30))).command_status == S.ESME_RINVDSTADR
    bind = frame(CommandId.BIND_TRANSMITTER, b"x" * 16 + b"\0pw\0\0\x34\0\0\0", seq=2)
    err = invalid(bind)
    assert err.command_status == S.ESME_RINVSYSID
    assert error_response(err) == BindTransmitterResp(sequence_number=2, command_status=S.ESME_RINVSYSID)


def test_message_id_without_nul() -> None:
    err = invalid(frame(CommandId.SUBMIT_SM_RESP, b"abc", seq=4))
    assert err.command_status == S.ESME_RINVCMDLEN
    # a broken response is answered with generic_nack, never with another response
    assert error_response(err) == GenericNack(sequence_number=4, command_status=S.ESME_RINVCMDLEN)


@pytest.mark.parametrize(
    ("tlvs", "status"),
    [
        (tlv(Tag.MESSAGE_STATE, b"\x02\x00"), S.ESME_RINVPARLEN),
        (tlv(Tag.SAR_MSG_REF_NUM, b"\x01"), S.ESME_RINVPARLEN),
        (tlv(Tag.NETWORK_ERROR_CODE, b"\x03\x00"), S.ESME_RINVPARLEN),
        (b"\x04\x27\x00", S.ESME_RINVOPTPARSTREAM),  # 3 octets: not even a TLV header
        (struct.pack(">HH", 0x1400, 5) + b"abc", S.ESME_RINVOPTPARSTREAM),  # value runs past the end
    ],
    ids=["message_state-2", "sar_msg_ref_num-1", "network_error_code-2", "short-header", "value-overrun"],
)
def test_bad_tlvs(tlvs: bytes, status: int) -> None:
    err = invalid(frame(CommandId.DELIVER_SM, sm_body() + tlvs, seq=8))
    assert err.command_status == status
    assert error_response(err) == DeliverSmResp(sequence_number=8, command_status=status)


def test_header_only_pdu_with_a_body() -> None:
    assert invalid(frame(CommandId.ENQUIRE_LINK, b"\0")).command_status == S.ESME_RINVCMDLEN


def test_command_length_must_match_the_frame() -> None:
    data = encode(EnquireLink(sequence_number=1))
    assert invalid(data + b"\0").command_status == S.ESME_RINVCMDLEN


def test_shorter_than_a_header_is_a_framing_error() -> None:
    with pytest.raises(FramingError):
        decode(b"\x00\x00\x00\x10\x00")


@given(
    command_id=st.sampled_from([int(c) for c in CommandId]) | u32,
    status=u32,
    seq=u32,
    body=st.binary(max_size=300),
)
@settings(max_examples=500)
def test_garbage_bodies_only_ever_raise_invalid_pdu_error(command_id: int, status: int, seq: int, body: bytes) -> None:
    try:
        pdu = decode(frame(command_id, body, seq=seq, status=status))
    except InvalidPduError as err:
        assert err.sequence_number == seq
        assert err.command_status != 0
        assert error_response(err).sequence_number == seq
    else:
        assert (pdu.sequence_number, pdu.command_status, pdu.command_id) == (seq, status, command_id)


@given(any_pdu, st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_corrupted_pdus_decode_or_raise_invalid_pdu_error(pdu: Any, data: st.DataObject) -> None:
    body = bytearray(encode(pdu)[16:])
    for _ in range(data.draw(st.integers(1, 4))):
        if body:
            body[data.draw(st.integers(0, len(body) - 1))] = data.draw(u8)
    body = body[: data.draw(st.integers(0, len(body)))]
    try:
        decoded = decode(frame(pdu.command_id, bytes(body), seq=pdu.sequence_number))
    except InvalidPduError as err:
        assert err.sequence_number == pdu.sequence_number
    else:
        assert type(decoded) is type(pdu)


# -- encode-side limits --------------------------------------------------------------------------------------

_STRING_FIELDS = [
    (BindTransmitter, "system_id"),
    (BindTransmitter, "password"),
    (BindTransmitter, "system_type"),
    (BindTransmitter, "address_range"),
    (BindTransceiverResp, "system_id"),
    (SubmitSm, "service_type"),
    (SubmitSm, "source_addr"),
    (SubmitSm, "destination_addr"),
    (SubmitSm, "schedule_delivery_time"),
    (SubmitSm, "validity_period"),
    (DeliverSm, "receipted_message_id"),
    (SubmitSmResp, "message_id"),
    (DeliverSmResp, "message_id"),
]


def _make(cls: type, **fields: Any) -> Any:
    if cls in (BindTransmitter, BindReceiver, BindTransceiver):
        fields.setdefault("system_id", "s")
    return cls(sequence_number=1, **fields)


@pytest.mark.parametrize(("cls", "name"), _STRING_FIELDS)
def test_c_string_at_its_limit_encodes_and_one_more_raises(cls: type, name: str) -> None:
    longest = "x" * (SIZES[name] - 1)
    assert getattr(decode(encode(_make(cls, **{name: longest}))), name) == longest
    with pytest.raises(ValueError, match=name):
        encode(_make(cls, **{name: longest + "x"}))


@pytest.mark.parametrize(("cls", "name"), _STRING_FIELDS)
def test_c_string_with_nul_or_beyond_latin1_raises(cls: type, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        encode(_make(cls, **{name: "a\0b"}))
    with pytest.raises(ValueError, match=name):
        encode(_make(cls, **{name: "税"}))


def test_short_message_limit() -> None:
    assert decode(encode(SubmitSm(sequence_number=1, short_message=b"x" * 254))).short_message == b"x" * 254
    with pytest.raises(ValueError, match="short_message"):
        encode(SubmitSm(sequence_number=1, short_message=b"x" * 255))


@pytest.mark.parametrize(
    ("cls", "fields", "match"),
    [
        (SubmitSm, {"esm_class": 256}, "esm_class"),
        (SubmitSm, {"data_coding": -1}, "data_coding"),
        (DeliverSm, {"sar_msg_ref_num": 0x10000}, "sar_msg_ref_num"),
        (DeliverSm, {"message_state": 300}, "message_state"),
        (DeliverSm, {"user_message_reference": -1}, "user_message_reference"),
        (SubmitSm, {"sequence_number": 2**32}, "sequence_number"),
        (EnquireLink, {"command_status": -1}, "command_status"),
        (BindTransceiver, {"system_id": "a", "interface_version": 0x100}, "interface_version"),
        (BindTransceiverResp, {"sc_interface_version": 0x100}, "sc_interface_version"),
        (DeliverSm, {"network_error_code": b"\x01\x02"}, "network_error_code"),
        (SubmitSm, {"short_message": b"a", "message_payload": b"b"}, "message_payload"),
        (SubmitSm, {"extra_tlvs": ((Tag.MESSAGE_STATE, b"\x02"),)}, "message_state"),
        (SubmitSm, {"extra_tlvs": ((0x10000, b""),)}, "tag"),
        (SubmitSm, {"message_payload": b"x" * 0x10000}, "message_payload"),
        (SubmitSm, {"message_payload": b"x" * 0xFFFF}, "65536"),  # fits the TLV, not the PDU
    ],
)
def test_values_smpp_cannot_carry_raise_value_error(cls: type, fields: dict[str, Any], match: str) -> None:
    pdu = cls(**{"sequence_number": 1, **fields})
    with pytest.raises(ValueError, match=match):
        encode(pdu)


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match="source_addr"):
        encode(SubmitSm(sequence_number=1, source_addr=None))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="short_message"):
        encode(SubmitSm(sequence_number=1, short_message="text"))  # type: ignore[arg-type]


# -- helpers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("request_cls", "response_cls"), list(REQUEST_TO_RESPONSE.items()))
def test_response_for(request_cls: type, response_cls: type) -> None:
    fields = {"system_id": "s"} if issubclass(request_cls, (BindTransmitter, BindReceiver, BindTransceiver)) else {}
    request = request_cls(sequence_number=41, **fields)
    response = response_for(request)
    assert type(response) is response_cls
    assert response.sequence_number == 41
    assert response.command_status == 0
    assert response.command_id == request.command_id | 0x80000000


def test_response_for_with_fields_and_status() -> None:
    submit = SubmitSm(sequence_number=5)
    assert response_for(submit, message_id="abc") == SubmitSmResp(sequence_number=5, message_id="abc")
    assert response_for(submit, command_status=S.ESME_RTHROTTLED) == SubmitSmResp(
        sequence_number=5, command_status=S.ESME_RTHROTTLED
    )
    bind = BindTransceiver(sequence_number=1, system_id="x")
    assert response_for(bind, system_id="SMSC", sc_interface_version=0x34) == BindTransceiverResp(
        sequence_number=1, system_id="SMSC", sc_interface_version=0x34
    )
    assert response_for(SubmitSmResp(sequence_number=9)) == GenericNack(sequence_number=9)


def test_status_name_never_raises() -> None:
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(S.ESME_ROK) == "ESME_ROK"
    assert status_name(0x400) == "0x00000400"
    assert status_name(0xFFFFFFFF) == "0xFFFFFFFF"
    assert isinstance(status_name(None), str)  # type: ignore[arg-type]


def test_throttling_and_transient_failures_are_two_disjoint_sets() -> None:
    assert {S.ESME_RTHROTTLED, S.ESME_RMSGQFUL} == THROTTLING_STATUSES
    assert {S.ESME_RSYSERR, S.ESME_RSUBMITFAIL} <= TRANSIENT_FAILURE_STATUSES
    assert not THROTTLING_STATUSES & TRANSIENT_FAILURE_STATUSES
    assert S.ESME_RINVDSTADR not in THROTTLING_STATUSES | TRANSIENT_FAILURE_STATUSES


_addresses = st.text(alphabet="0123456789", max_size=20)


@settings(max_examples=300)
@given(
    source_ton=st.integers(0, 6), source=_addresses, dest_ton=st.integers(0, 6), dest_npi=st.integers(0, 18),
    destination=_addresses, esm_class=st.integers(0, 255), registered=st.integers(0, 3),
    validity=st.sampled_from(["", "261202180000032+", "000001000000000R"]), data_coding=st.integers(0, 255),
    short_message=st.binary(max_size=254),
)  # fmt: skip
def test_submit_sm_frame_is_what_encode_writes(
    source_ton: int, source: str, dest_ton: int, dest_npi: int, destination: str, esm_class: int,
    registered: int, validity: str, data_coding: int, short_message: bytes,
) -> None:  # fmt: skip
    pdu = SubmitSm(
        sequence_number=0,
        source_addr_ton=source_ton, source_addr=source, dest_addr_ton=dest_ton, dest_addr_npi=dest_npi,
        destination_addr=destination, esm_class=esm_class, registered_delivery=registered,
        validity_period=validity, data_coding=data_coding, short_message=short_message,
    )  # fmt: skip
    frame = submit_sm_frame(
        source_ton, source, dest_ton, dest_npi, destination, esm_class, registered, validity, data_coding,
        short_message,
    )  # fmt: skip
    assert frame == encode(pdu)
    assert decode(frame) == pdu


def test_submit_sm_frame_refuses_what_submit_sm_cannot_carry() -> None:
    for fields in (("1" * 21, "8613900000001", ""), ("12366", "86139\0", ""), ("12366", "8613900000001", "x" * 17)):
        source, destination, validity = fields
        with pytest.raises(ValueError, match="submit_sm cannot carry"):
            submit_sm_frame(0, source, 1, 1, destination, 0, 1, validity, 8, b"hi")
    with pytest.raises(ValueError, match="255 octets of short_message"):
        submit_sm_frame(0, "12366", 1, 1, "8613900000001", 0, 1, "", 8, b"x" * 255)


@given(seq=st.integers(0, 2**32 - 1), status=st.sampled_from([0, int(CommandStatus.ESME_RX_T_APPN)]))
def test_deliver_sm_resp_frame_is_what_encode_writes(seq: int, status: int) -> None:
    assert deliver_sm_resp_frame(seq, status) == encode(DeliverSmResp(sequence_number=seq, command_status=status))
