"""Sans-I/O SMPP 3.4: PDU dataclasses, encode/decode, an incremental reader, receipts and text coding."""

from taxsms.channels.smpp.codec import (
    FramingError,
    InvalidPduError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    decode,
    deliver_sm_resp_frame,
    encode,
    error_response,
    submit_sm_frame,
    validate,
)
from taxsms.channels.smpp.connection import NEED_DATA, Connection, Event, Refused, Response
from taxsms.channels.smpp.constants import (
    BIND_CREDENTIAL_STATUSES,
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_UDHI,
    HEADER_LENGTH,
    MAX_PDU_LENGTH,
    THROTTLING_STATUSES,
    TRANSIENT_FAILURE_STATUSES,
    CommandId,
    CommandStatus,
    DataCoding,
    MessageState,
    Tag,
    status_name,
)
from taxsms.channels.smpp.pdus import (
    REQUEST_TO_RESPONSE,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduBase,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    response_for,
)
from taxsms.channels.smpp.reader import PduReader
from taxsms.channels.smpp.receipts import (
    Receipt,
    format_receipt_text,
    parse_receipt,
    parse_receipt_text,
)
from taxsms.channels.smpp.state import BindState, Role
from taxsms.channels.smpp.text import (
    Concat,
    EncodedMessage,
    SegmentInfo,
    decode_short_message,
    encode_message,
    fits_gsm7,
    gsm7_decode,
    gsm7_encode,
    parse_concat_udh,
    segment_info,
)

__all__ = [
    "BIND_CREDENTIAL_STATUSES", "ESM_CLASS_DELIVERY_RECEIPT", "ESM_CLASS_UDHI", "HEADER_LENGTH", "MAX_PDU_LENGTH",
    "NEED_DATA", "REQUEST_TO_RESPONSE", "THROTTLING_STATUSES", "TRANSIENT_FAILURE_STATUSES", "BindReceiver",
    "BindReceiverResp", "BindState", "BindTransceiver", "BindTransceiverResp", "BindTransmitter",
    "BindTransmitterResp", "CommandId", "CommandStatus", "Concat", "Connection", "DataCoding", "DeliverSm",
    "DeliverSmResp", "EncodedMessage", "EnquireLink", "EnquireLinkResp", "Event", "FramingError", "GenericNack",
    "InvalidPduError", "LocalProtocolError", "MessageState", "Pdu", "PduBase", "PduReader", "ProtocolError",
    "Receipt", "Refused", "RemoteProtocolError", "Response", "Role", "SegmentInfo", "SubmitSm", "SubmitSmResp",
    "Tag", "Unbind", "UnbindResp", "decode", "decode_short_message", "deliver_sm_resp_frame", "encode",
    "encode_message",
    "error_response", "fits_gsm7", "format_receipt_text", "gsm7_decode", "gsm7_encode",
    "parse_concat_udh", "parse_receipt", "parse_receipt_text",
    "response_for", "segment_info", "status_name", "submit_sm_frame", "validate"
]  # fmt: skip
