"""Delivery receipts: text-only, TLV-preferred, the ways real SMSCs bend appendix B, message id variants."""

from __future__ import annotations

import pytest

from taxsms.channels.smpp import (
    DataCoding,
    DeliverSm,
    MessageState,
    Receipt,
    decode,
    encode,
    format_receipt_text,
    parse_receipt,
    parse_receipt_text,
)

STANDARD = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 stat:DELIVRD err:000 text:Your tax"
)


def receipt_pdu(text: str = "", **fields: object) -> DeliverSm:
    """A receipt as it arrives: encoded and decoded again."""
    pdu = DeliverSm(sequence_number=1, esm_class=4, short_message=text.encode("latin-1"), **fields)  # type: ignore[arg-type]
    decoded = decode(encode(pdu))
    assert isinstance(decoded, DeliverSm)
    return decoded


def test_text_only_receipt() -> None:
    receipt = parse_receipt(receipt_pdu(STANDARD))
    assert receipt == Receipt(
        message_id="0123456789",
        state=MessageState.DELIVERED,
        stat="DELIVRD",
        error="000",
        submitted="2611221200",
        done="2611221201",
        text="Your tax",
        id_from_tlv=False,
    )


def test_tlvs_are_preferred_over_the_text() -> None:
    pdu = receipt_pdu(STANDARD, receipted_message_id="9abc", message_state=MessageState.UNDELIVERABLE)
    receipt = parse_receipt(pdu)
    assert receipt.message_id == "9abc"
    assert receipt.id_from_tlv
    assert receipt.state is MessageState.UNDELIVERABLE
    assert receipt.stat == "UNDELIV"  # the word for the TLV's state, not the text's
    assert receipt.submitted == "2611221200"


def test_tlv_only_receipt() -> None:
    pdu = receipt_pdu(receipted_message_id="77", message_state=MessageState.EXPIRED, network_error_code=b"\x03\x00\x2a")
    receipt = parse_receipt(pdu)
    assert (receipt.message_id, receipt.state, receipt.stat) == ("77", MessageState.EXPIRED, "EXPIRED")
    assert receipt.error == "03002a"  # network_error_code in hex when the text has no err:
    assert receipt.text == receipt.submitted == receipt.done == ""


def test_receipt_in_message_payload() -> None:
    pdu = receipt_pdu(message_payload=STANDARD.encode())
    assert parse_receipt(pdu).message_id == "0123456789"


def test_ucs2_receipt_text() -> None:
    pdu = DeliverSm(
        sequence_number=1, esm_class=4, data_coding=DataCoding.UCS2, short_message=STANDARD.encode("utf-16-be")
    )
    assert parse_receipt(pdu).stat == "DELIVRD"


def test_unknown_message_state_value_is_unknown() -> None:
    assert parse_receipt(receipt_pdu(receipted_message_id="1", message_state=99)).state is MessageState.UNKNOWN


@pytest.mark.parametrize(
    "text",
    [
        "ID:0123456789 SUB:001 DLVRD:001 SUBMIT DATE:2611221200 DONE DATE:2611221201 STAT:DELIVRD ERR:000 "
        "TEXT:Your tax",
        "Id:0123456789 Sub:001 Dlvrd:001 Submit Date:2611221200 Done Date:2611221201 Stat:delivrd Err:000 "
        "Text:Your tax",
        "  id: 0123456789  sub: 001  dlvrd: 001  submit  date: 2611221200  done date : 2611221201  stat: DELIVRD"
        "  err: 000  text:Your tax",
        # fields in another order, some missing
        "stat:DELIVRD err:000 id:0123456789 done date:2611221201 submit date:2611221200 text:Your tax",
        "id:0123456789 submit date:2611221200 done date:2611221201 stat:DELIVRD err:000 text:Your tax",
        # no space between the date words
        "id:0123456789 sub:001 dlvrd:001 submitdate:2611221200 donedate:2611221201 stat:DELIVRD err:000 text:Your tax",
    ],
)
def test_field_names_any_case_order_and_spacing(text: str) -> None:
    receipt = parse_receipt(receipt_pdu(text))
    assert (receipt.message_id, receipt.state, receipt.stat, receipt.error) == (
        "0123456789",
        MessageState.DELIVERED,
        "DELIVRD",
        "000",
    )
    assert (receipt.submitted, receipt.done, receipt.text) == ("2611221200", "2611221201", "Your tax")


def test_text_field_runs_to_the_end_and_may_contain_field_names() -> None:
    fields = parse_receipt_text("id:5 stat:UNDELIV err:001 text:id:6 stat:DELIVRD")
    assert fields["id"] == "5"
    assert fields["stat"] == "UNDELIV"
    assert fields["text"] == "id:6 stat:DELIVRD"


def test_field_names_inside_words_are_not_fields() -> None:
    fields = parse_receipt_text("msgid:9 id:5 substat:x stat:DELIVRD vendor:7")
    assert fields == {"id": "5", "stat": "DELIVRD"}


def test_empty_values() -> None:
    receipt = parse_receipt(receipt_pdu("id:42 sub:001 dlvrd:000 submit date: done date: stat: err: text:"))
    assert (receipt.message_id, receipt.state, receipt.stat, receipt.error) == (
        "42",
        MessageState.UNKNOWN,
        "UNKNOWN",
        "",
    )


@pytest.mark.parametrize(
    ("stat", "state"),
    [
        ("DELIVRD", MessageState.DELIVERED),
        ("EXPIRED", MessageState.EXPIRED),
        ("DELETED", MessageState.DELETED),
        ("UNDELIV", MessageState.UNDELIVERABLE),
        ("ACCEPTD", MessageState.ACCEPTED),
        ("UNKNOWN", MessageState.UNKNOWN),
        ("REJECTD", MessageState.REJECTED),
        ("ENROUTE", MessageState.ENROUTE),
        ("DELIVERED", MessageState.DELIVERED),
        ("rejectd", MessageState.REJECTED),
        ("FAILED", MessageState.UNKNOWN),
    ],
)
def test_stat_mapping(stat: str, state: MessageState) -> None:
    receipt = parse_receipt(receipt_pdu(f"id:1 stat:{stat} err:000"))
    assert receipt.state is state
    assert receipt.stat == stat.upper()


def test_missing_id_raises_value_error() -> None:
    with pytest.raises(ValueError, match="message id"):
        parse_receipt(receipt_pdu("sub:001 dlvrd:001 stat:DELIVRD err:000"))
    with pytest.raises(ValueError, match="message id"):
        parse_receipt(receipt_pdu("id: sub:001 stat:DELIVRD", message_state=2))
    with pytest.raises(ValueError, match="message id"):
        parse_receipt(receipt_pdu(""))


def test_empty_tlv_id_falls_back_to_the_text() -> None:
    receipt = parse_receipt(receipt_pdu("id:55 stat:DELIVRD", receipted_message_id=""))
    assert (receipt.message_id, receipt.id_from_tlv) == ("55", False)


def test_format_receipt_text_parses_back() -> None:
    text = format_receipt_text("abc", "UNDELIV", submitted="2611221200", done="2611221205", err="005", text="x" * 30)
    assert text == (
        "id:abc sub:001 dlvrd:000 submit date:2611221200 done date:2611221205 stat:UNDELIV err:005 text:" + "x" * 20
    )
    receipt = parse_receipt(receipt_pdu(text))
    assert (receipt.message_id, receipt.state, receipt.error) == ("abc", MessageState.UNDELIVERABLE, "005")
    assert "dlvrd:001" in format_receipt_text("a", "DELIVRD", submitted="", done="")


# -- message ids ---------------------------------------------------------------------------------------------


def test_a_receipt_names_the_handset_it_comes_from() -> None:
    receipt = parse_receipt(receipt_pdu("id:2748 stat:DELIVRD", source_addr="8613800138000"))
    assert (receipt.message_id, receipt.source) == ("2748", "8613800138000")
