"""Our codec against smpplib (a reference implementation): same bytes out, each parses the other's bytes.

How smpplib builds a PDU (smpplib/command.py, 2.2.x): fields in `params_order`, mandatory integers packed
with their size (0 or None -> NUL octets), an empty or None C-Octet String as a single NUL, optional
parameters in `params_order` too, which follows the SMPP 3.4 tables (4.4.1 / 4.6.1), the order we use.
Where smpplib deviates from SMPP or from us, a test below pins the difference down.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
import smpplib.exceptions
import smpplib.smpp

from taxsms.channels.smpp import (
    BindReceiver,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    CommandStatus,
    Connection,
    DataCoding,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    InvalidPduError,
    MessageState,
    Role,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
    decode,
    encode,
    encode_message,
    gsm7_encode,
)


class Client:
    """All smpplib's PDUs need from a client: a sequence counter (make_pdu fails without next_sequence)."""

    def __init__(self) -> None:
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def smpplib_bytes(command: str, *, sequence: int, **params: Any) -> bytes:
    pdu = smpplib.smpp.make_pdu(command, client=Client(), **params)
    pdu.sequence = sequence  # make_pdu(sequence=...) is silently ignored: see test_smpplib_ignores_sequence_kwarg
    return bytes(pdu.generate())


LONG_ZH = (
    "尊敬的纳税人：您2025年度个人所得税综合所得汇算清缴的退税已办理完成，请留意银行到账信息。如有疑问请拨打12366。" * 2
)
ADDRS = {"source_addr_ton": 5, "source_addr": "12366", "dest_addr_ton": 1, "dest_addr_npi": 1,
         "destination_addr": "8613800138000"}  # fmt: skip
_ucs2 = encode_message("您的发票已开具，请查收。", 17)
_multi = encode_message(LONG_ZH, 200)
assert _ucs2.data_coding == DataCoding.UCS2 and _multi.esm_class == 0x40 and len(_multi.parts) >= 2
RECEIPT = b"id:0a1b2c3d sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 stat:DELIVRD err:000 text:"

# (our PDU, smpplib command, smpplib parameters): the same PDU written both ways.
CASES: list[tuple[Any, str, dict[str, Any]]] = [
    (
        BindTransceiver(sequence_number=1, system_id="taxsms", password="s3cret", system_type="SMS", addr_ton=1,
                           addr_npi=1),
        "bind_transceiver",
        {"system_id": "taxsms", "password": "s3cret", "system_type": "SMS", "addr_ton": 1, "addr_npi": 1},
    ),
    (BindTransmitter(sequence_number=2, system_id="tx"), "bind_transmitter", {"system_id": "tx"}),
    (
        BindReceiver(sequence_number=3, system_id="rx", password="pw", address_range="^12366"),
        "bind_receiver",
        {"system_id": "rx", "password": "pw", "address_range": "^12366"},
    ),
    (
        BindTransceiverResp(sequence_number=1, system_id="SMSC", sc_interface_version=0x34),
        "bind_transceiver_resp",
        {"system_id": "SMSC", "sc_interface_version": 0x34},
    ),
    (
        BindTransceiverResp(sequence_number=1, command_status=CommandStatus.ESME_RINVPASWD),
        "bind_transceiver_resp",
        {"status": CommandStatus.ESME_RINVPASWD},
    ),
    (
        SubmitSm(sequence_number=10, registered_delivery=1, short_message=gsm7_encode("Your tax refund: €120"),
                    **ADDRS),
        "submit_sm",
        {**ADDRS, "registered_delivery": 1, "short_message": gsm7_encode("Your tax refund: €120")},
    ),
    (
        SubmitSm(sequence_number=11, registered_delivery=1, data_coding=8, short_message=_ucs2.parts[0], **ADDRS),
        "submit_sm",
        {**ADDRS, "registered_delivery": 1, "data_coding": 8, "short_message": _ucs2.parts[0]},
    ),
    (  # one part of a concatenated UCS2 message: UDH 05 00 03 REF TOTAL SEQ, esm_class 0x40
        SubmitSm(sequence_number=12, registered_delivery=1, esm_class=0x40, data_coding=8,
                    short_message=_multi.parts[1], **ADDRS),
        "submit_sm",
        {**ADDRS, "registered_delivery": 1, "esm_class": 0x40, "data_coding": 8, "short_message": _multi.parts[1]},
    ),
    (  # the SAR TLV alternative, with user_message_reference
        SubmitSm(sequence_number=13, data_coding=8, short_message=_ucs2.parts[0], user_message_reference=7,
                    sar_msg_ref_num=0x1234, sar_total_segments=3, sar_segment_seqnum=2, **ADDRS),
        "submit_sm",
        {**ADDRS, "data_coding": 8, "short_message": _ucs2.parts[0], "user_message_reference": 7,
         "sar_msg_ref_num": 0x1234, "sar_total_segments": 3, "sar_segment_seqnum": 2},
    ),
    (
        SubmitSm(sequence_number=14, service_type="CMT", priority_flag=1, protocol_id=0x40,
                    schedule_delivery_time="261122120000000+", validity_period="000001000000000R",
                    data_coding=8, message_payload=LONG_ZH.encode("utf-16-be"), **ADDRS),
        "submit_sm",
        {**ADDRS, "service_type": "CMT", "priority_flag": 1, "protocol_id": 0x40,
         "schedule_delivery_time": "261122120000000+", "validity_period": "000001000000000R", "data_coding": 8,
         "message_payload": LONG_ZH.encode("utf-16-be")},
    ),
    (
        DeliverSm(sequence_number=20, source_addr="8613800138000", destination_addr="12366", esm_class=4,
                  short_message=RECEIPT, receipted_message_id="0a1b2c3d", message_state=MessageState.DELIVERED,
                  network_error_code=b"\x03\x00\x00"),
        "deliver_sm",
        {"source_addr": "8613800138000", "destination_addr": "12366", "esm_class": 4, "short_message": RECEIPT,
         "receipted_message_id": "0a1b2c3d", "message_state": 2, "network_error_code": b"\x03\x00\x00"},
    ),
    (
        DeliverSm(sequence_number=21, source_addr_ton=1, source_addr_npi=1, source_addr="8613800138000",
                  destination_addr="12366", data_coding=8, short_message="退订".encode("utf-16-be")),
        "deliver_sm",
        {"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "8613800138000", "destination_addr": "12366",
         "data_coding": 8, "short_message": "退订".encode("utf-16-be")},
    ),
    (SubmitSmResp(sequence_number=10, message_id="0a1b2c3d"), "submit_sm_resp", {"message_id": "0a1b2c3d"}),
    (  # smpplib cannot leave the body out; its single NUL is what we write too
        SubmitSmResp(sequence_number=10, command_status=CommandStatus.ESME_RTHROTTLED),
        "submit_sm_resp",
        {"status": CommandStatus.ESME_RTHROTTLED},
    ),
    (DeliverSmResp(sequence_number=20), "deliver_sm_resp", {}),
    (EnquireLink(sequence_number=30), "enquire_link", {}),
    (EnquireLinkResp(sequence_number=30), "enquire_link_resp", {}),
    (Unbind(sequence_number=31), "unbind", {}),
    (UnbindResp(sequence_number=31), "unbind_resp", {}),
    (
        GenericNack(sequence_number=32, command_status=CommandStatus.ESME_RINVCMDID),
        "generic_nack",
        {"status": CommandStatus.ESME_RINVCMDID},
    ),
]  # fmt: skip
IDS = [f"{command}-{pdu.sequence_number}-{i}" for i, (pdu, command, _) in enumerate(CASES)]


@pytest.mark.parametrize(("ours", "command", "params"), CASES, ids=IDS)
def test_same_bytes_as_smpplib(ours: Any, command: str, params: dict[str, Any]) -> None:
    assert encode(ours) == smpplib_bytes(command, sequence=ours.sequence_number, **params)


@pytest.mark.parametrize(("ours", "command", "params"), CASES, ids=IDS)
def test_we_decode_smpplibs_bytes(ours: Any, command: str, params: dict[str, Any]) -> None:
    assert decode(smpplib_bytes(command, sequence=ours.sequence_number, **params)) == ours


@pytest.mark.parametrize(("ours", "command", "params"), CASES, ids=IDS)
def test_smpplib_parses_our_bytes(ours: Any, command: str, params: dict[str, Any]) -> None:
    parsed = smpplib.smpp.parse_pdu(encode(ours), client=Client())
    assert (parsed.command, parsed.sequence, parsed.status) == (command, ours.sequence_number, ours.command_status)
    for name in getattr(parsed, "params", {}):
        if not hasattr(ours, name):  # sm_length, or a TLV we do not model (absent)
            assert name == "sm_length" or getattr(parsed, name) is None
            continue
        expected = getattr(ours, name)
        if isinstance(expected, str):  # smpplib returns C-Octet Strings as bytes
            expected = expected.encode("latin-1")
        actual = getattr(parsed, name)
        if name in ("short_message", "system_id", "message_id") and actual is None:
            actual = b""  # smpplib leaves a field at None when the body ends before it
        assert actual == expected, name


# -- where smpplib and SMPP (or we) differ ----------------------------------------------------------------------


def test_smpplib_ignores_sequence_kwarg() -> None:
    # Command.__init__ skips next_sequence() when sequence= is given, then _set_vars() does not set it because
    # the `sequence` property already returns the client's counter: the PDU silently gets the client's number.
    client = Client()
    client.sequence = 5
    pdu = smpplib.smpp.make_pdu("enquire_link", client=client, sequence=99)
    assert pdu.sequence == 5


def test_smpplib_truncates_over_long_strings_where_we_refuse() -> None:
    # smpplib cuts a C-Octet String to its maximum without a word; a truncated address is a wrong address.
    data = smpplib_bytes("submit_sm", sequence=1, destination_addr="8" * 25, short_message=b"x")
    assert decode(data).destination_addr == "8" * 20  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="destination_addr"):
        encode(SubmitSm(sequence_number=1, destination_addr="8" * 25, short_message=b"x"))


def test_smpplib_lets_receipted_message_id_exceed_65_octets() -> None:
    # SMPP 3.4 5.3.2.12: receipted_message_id is C-Octet String (65) including the NUL. smpplib's TLV check is
    # `len > max` where its mandatory strings use `len >= max`, so a 65-character id gives a 66-octet value.
    data = smpplib_bytes("deliver_sm", sequence=1, receipted_message_id="x" * 65)
    tag, length = struct.unpack(">HH", data[-70:-66])
    assert (tag, length) == (Tag.RECEIPTED_MESSAGE_ID, 66)
    with pytest.raises(ValueError, match="receipted_message_id"):
        encode(DeliverSm(sequence_number=1, receipted_message_id="x" * 65))
    assert decode(data).receipted_message_id == "x" * 65  # type: ignore[union-attr]  # we read it anyway
    same = smpplib_bytes("deliver_sm", sequence=1, receipted_message_id="x" * 64)
    assert encode(DeliverSm(sequence_number=1, receipted_message_id="x" * 64)) == same


def test_smpplib_reads_fixed_size_tlvs_by_their_nominal_size() -> None:
    # smpplib ignores a TLV's length field for integer TLVs and reads the size it expects, so a message_state
    # of length 2 shifts everything after it. We reject the PDU with ESME_RINVPARLEN instead.
    good = encode(DeliverSm(sequence_number=1, esm_class=4, short_message=b"id:1"))
    body = good[16:] + struct.pack(">HHH", Tag.MESSAGE_STATE, 2, 2) + struct.pack(">HH", Tag.RECEIPTED_MESSAGE_ID, 2)
    data = struct.pack(">IIII", 16 + len(body) + 2, 5, 0, 1) + body + b"x\0"
    with pytest.raises(smpplib.exceptions.UnknownCommandError):  # it took 0x0200 (the shifted octets) as a tag
        smpplib.smpp.parse_pdu(data, client=Client())
    with pytest.raises(InvalidPduError) as info:
        decode(data)
    assert info.value.command_status == CommandStatus.ESME_RINVPARLEN


def test_smpplib_rejects_unknown_tlvs_unless_told_otherwise() -> None:
    # SMPP 3.4 3.2.1: an unknown optional parameter must be ignored. smpplib raises unless
    # allow_unknown_opt_params=True, and then drops it; we keep it in extra_tlvs and write it back.
    ours = DeliverSm(sequence_number=1, short_message=b"hi", extra_tlvs=((0x1401, b"vendor"),))
    with pytest.raises(smpplib.exceptions.UnknownCommandError):
        smpplib.smpp.parse_pdu(encode(ours), client=Client())
    parsed = smpplib.smpp.parse_pdu(encode(ours), client=Client(), allow_unknown_opt_params=True)
    assert parsed.short_message == b"hi"
    assert decode(encode(ours)) == ours


def test_smpplib_writes_a_255_octet_short_message() -> None:
    # SMPP 3.4 5.2.22: short_message is 0-254 octets. smpplib only fails when sm_length no longer fits its
    # octet (struct.error at 256), so it sends 255; we refuse to encode it and reject it on decode.
    data = smpplib_bytes("submit_sm", sequence=1, short_message=b"x" * 255)
    with pytest.raises(InvalidPduError) as info:
        decode(data)
    assert info.value.command_status == CommandStatus.ESME_RINVMSGLEN
    with pytest.raises(ValueError, match="short_message"):
        encode(SubmitSm(sequence_number=1, short_message=b"x" * 255))
    with pytest.raises(struct.error):
        smpplib_bytes("submit_sm", sequence=1, short_message=b"x" * 256)


def test_a_connection_writes_what_smpplib_writes() -> None:
    """Bytes of a whole exchange through Connection (sequence numbers its own) against smpplib's."""
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    bind = esme.send(BindTransceiver(sequence_number=0, system_id="taxsms", password="s3cret"))
    assert bind == smpplib_bytes("bind_transceiver", sequence=1, system_id="taxsms", password="s3cret")
    smsc.receive_data(bind)
    assert isinstance(smsc.next_event(), BindTransceiver)
    bound = smsc.send(BindTransceiverResp(sequence_number=1, system_id="SMSC"))
    assert bound == smpplib_bytes("bind_transceiver_resp", sequence=1, system_id="SMSC")
    esme.receive_data(bound)
    submit = esme.send(SubmitSm(sequence_number=0, short_message=b"hi", **ADDRS))
    assert submit == smpplib_bytes("submit_sm", sequence=2, short_message=b"hi", **ADDRS)
    # what the connection answers on its own, to smpplib's requests and garbage
    smsc.receive_data(smpplib_bytes("enquire_link", sequence=7))
    assert smsc.data_to_send() == smpplib_bytes("enquire_link_resp", sequence=7)
    smsc.receive_data(struct.pack(">IIII", 16, 0x7F, 0, 8))
    assert smsc.data_to_send() == smpplib_bytes("generic_nack", sequence=8, status=CommandStatus.ESME_RINVCMDID)
    smsc.receive_data(smpplib_bytes("unbind", sequence=9))
    assert smsc.data_to_send() == smpplib_bytes("unbind_resp", sequence=9)
