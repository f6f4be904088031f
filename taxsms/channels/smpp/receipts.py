"""Delivery receipts: read them from deliver_sm (TLVs first, then the appendix-B text), and write them.

A receipt's message id is given as the SMSC wrote it; which submitted message it names (SMSCs often write
the id in hex in submit_sm_resp and in decimal in the receipt text) is decided by taxsms.queue.correlation.
"""

from __future__ import annotations

import re

import msgspec

from taxsms.channels.smpp.constants import DataCoding, MessageState
from taxsms.channels.smpp.pdus import DeliverSm

STAT_TO_STATE = {
    "DELIVRD": MessageState.DELIVERED,
    "DELIVERED": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "ACCEPTED": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
    "REJECTED": MessageState.REJECTED,
    "ENROUTE": MessageState.ENROUTE,
}
STATE_TO_STAT = {
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
    MessageState.ENROUTE: "ENROUTE",
}
_STATES = {int(state): state for state in MessageState}
# Fast path: the appendix-B layout in its usual order (any case, any spacing); text: is optional.
_STANDARD = re.compile(
    r"\s*id\s*:\s*([^\s:]*)\s+sub\s*:\s*([^\s:]*)\s+dlvrd\s*:\s*([^\s:]*)\s+submit\s*date\s*:\s*([^\s:]*)"
    r"\s+done\s*date\s*:\s*([^\s:]*)\s+stat\s*:\s*([^\s:]*)\s+err\s*:\s*([^\s:]*)(?:\s+text\s*:\s*(.*))?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)
_STANDARD_KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text")
# Otherwise: a field name at a word start ("submit date" / "done date" contain a space); text: runs to the end.
_FIELD = re.compile(r"\b(id|sub|dlvrd|submit\s*date|done\s*date|stat|err|text)\s*:\s*", re.IGNORECASE)


class Receipt(msgspec.Struct, frozen=True):
    """What an SMSC reports about one message it accepted."""

    message_id: str
    state: MessageState
    stat: str  # e.g. "DELIVRD": the word for the message_state TLV if present, else the text's stat: word
    error: str = ""  # the err: field, else the network_error_code TLV in hex, else ""
    submitted: str = ""  # raw YYMMDDhhmm[ss]
    done: str = ""
    text: str = ""
    id_from_tlv: bool = False  # message_id came from the receipted_message_id TLV
    source: str = ""  # the deliver_sm's source_addr: the handset the message went to


def parse_receipt_text(text: str) -> dict[str, str]:
    """The fields of an appendix-B receipt text; keys lower-case with one space ('submit date')."""
    match = _STANDARD.match(text)
    if match is not None:
        fields = dict(zip(_STANDARD_KEYS, match.groups(""), strict=True))
        if match.group(8) is None:
            del fields["text"]
        return fields
    fields = {}
    matches = list(_FIELD.finditer(text))
    for i, match in enumerate(matches):
        key = match.group(1).lower()
        if key.endswith("date"):
            key = key[:-4].rstrip() + " date"
        if key in fields:  # the first occurrence wins (a later one is inside text:)
            continue
        if key == "text":
            fields[key] = text[match.end() :]
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[match.end() : end].split(None, 1)  # one token: a vendor's extra "foo:bar" is not glued on
        fields[key] = value[0] if value else ""
    return fields


def _receipt_text(pdu: DeliverSm) -> str:
    data = pdu.text_bytes
    if pdu.data_coding == DataCoding.UCS2:
        return data[: len(data) & ~1].decode("utf-16-be", "replace")
    return data.decode("latin-1")


def parse_receipt(pdu: DeliverSm) -> Receipt:
    """Read a delivery receipt; the receipted_message_id and message_state TLVs win over the text.

    Raises ValueError when neither the TLV nor the text gives a message id.
    """
    text = _receipt_text(pdu)
    fields = parse_receipt_text(text)
    from_tlv = bool(pdu.receipted_message_id and pdu.receipted_message_id.strip())
    message_id = (pdu.receipted_message_id if from_tlv else fields.get("id", "")) or ""
    message_id = message_id.strip()
    if not message_id:
        raise ValueError(f"delivery receipt without a message id (no receipted_message_id TLV): {text[:80]!r}")
    state = _STATES.get(pdu.message_state) if pdu.message_state is not None else None  # type: ignore[arg-type]
    if state is not None:
        stat = STATE_TO_STAT[state]
    else:  # no (valid) message_state TLV: the text's stat: word
        stat = fields.get("stat", "").upper() or "UNKNOWN"
        state = STAT_TO_STATE.get(stat, MessageState.UNKNOWN)
    error = fields.get("err", "")
    if not error and pdu.network_error_code:
        error = pdu.network_error_code.hex()
    return Receipt(
        message_id=message_id,
        state=state,
        stat=stat,
        error=error,
        submitted=fields.get("submit date", ""),
        done=fields.get("done date", ""),
        text=fields.get("text", ""),
        id_from_tlv=from_tlv,
        source=pdu.source_addr,
    )


def format_receipt_text(
    message_id: str, stat: str, *, submitted: str, done: str, err: str = "000", text: str = "", sub: int = 1
) -> str:
    """An appendix-B receipt text: id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…"""
    dlvrd = sub if stat == "DELIVRD" else 0
    return (
        f"id:{message_id} sub:{sub:03d} dlvrd:{dlvrd:03d} submit date:{submitted} done date:{done} "
        f"stat:{stat} err:{err} text:{text[:20]}"
    )
