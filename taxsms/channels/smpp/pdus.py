"""SMPP 3.4 PDUs as immutable dataclasses: what goes over the wire, with no I/O and no encoding logic.

command_length is never stored (encode computes it), nor is sm_length (it is len(short_message)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from taxsms.channels.smpp.constants import CommandId

_dc = dataclass(frozen=True, slots=True, kw_only=True)


@_dc
class PduBase:
    """Header fields every PDU has."""

    command_id: ClassVar[CommandId]
    sequence_number: int
    command_status: int = 0


@_dc
class _Bind(PduBase):
    system_id: str
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@_dc
class BindTransmitter(_Bind):
    command_id = CommandId.BIND_TRANSMITTER


@_dc
class BindReceiver(_Bind):
    command_id = CommandId.BIND_RECEIVER


@_dc
class BindTransceiver(_Bind):
    command_id = CommandId.BIND_TRANSCEIVER


@_dc
class _BindResp(PduBase):
    """On an error status the SMSC may send no body at all: system_id is then ""."""

    system_id: str = ""
    sc_interface_version: int | None = None  # TLV 0x0210


@_dc
class BindTransmitterResp(_BindResp):
    command_id = CommandId.BIND_TRANSMITTER_RESP


@_dc
class BindReceiverResp(_BindResp):
    command_id = CommandId.BIND_RECEIVER_RESP


@_dc
class BindTransceiverResp(_BindResp):
    command_id = CommandId.BIND_TRANSCEIVER_RESP


@_dc
class _ShortMessage(PduBase):
    """The body shared by submit_sm and deliver_sm, then the TLVs we model (None = absent).

    Unknown TLVs are kept in extra_tlvs as raw (tag, value) pairs and written back after the known ones.
    """

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    receipted_message_id: str | None = None
    message_state: int | None = None
    network_error_code: bytes | None = None  # 3 octets: network type, error code (2)
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    message_payload: bytes | None = None  # instead of short_message (which must then be empty)
    user_message_reference: int | None = None
    extra_tlvs: tuple[tuple[int, bytes], ...] = ()

    @property
    def text_bytes(self) -> bytes:
        """The message content: message_payload when present, else short_message."""
        return self.message_payload if self.message_payload is not None else self.short_message


@_dc
class SubmitSm(_ShortMessage):
    command_id = CommandId.SUBMIT_SM


@_dc
class DeliverSm(_ShortMessage):
    command_id = CommandId.DELIVER_SM


@_dc
class SubmitSmResp(PduBase):
    """On an error status the body may be absent: message_id is then ""."""

    command_id = CommandId.SUBMIT_SM_RESP
    message_id: str = ""


@_dc
class DeliverSmResp(PduBase):
    command_id = CommandId.DELIVER_SM_RESP
    message_id: str = ""  # unused by SMPP 3.4: always empty


@_dc
class EnquireLink(PduBase):
    command_id = CommandId.ENQUIRE_LINK


@_dc
class EnquireLinkResp(PduBase):
    command_id = CommandId.ENQUIRE_LINK_RESP


@_dc
class Unbind(PduBase):
    command_id = CommandId.UNBIND


@_dc
class UnbindResp(PduBase):
    command_id = CommandId.UNBIND_RESP


@_dc
class GenericNack(PduBase):
    command_id = CommandId.GENERIC_NACK


Pdu: TypeAlias = (
    BindTransmitter
    | BindReceiver
    | BindTransceiver
    | BindTransmitterResp
    | BindReceiverResp
    | BindTransceiverResp
    | SubmitSm
    | SubmitSmResp
    | DeliverSm
    | DeliverSmResp
    | EnquireLink
    | EnquireLinkResp
    | Unbind
    | UnbindResp
    | GenericNack
)

#: command_id -> PDU class, for every command we decode.
PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        BindTransmitter, BindReceiver, BindTransceiver, BindTransmitterResp, BindReceiverResp,
        BindTransceiverResp, SubmitSm, SubmitSmResp, DeliverSm, DeliverSmResp, EnquireLink,
        EnquireLinkResp, Unbind, UnbindResp, GenericNack,
    )
}  # fmt: skip

REQUEST_TO_RESPONSE: dict[type[PduBase], type[PduBase]] = {
    BindTransmitter: BindTransmitterResp,
    BindReceiver: BindReceiverResp,
    BindTransceiver: BindTransceiverResp,
    SubmitSm: SubmitSmResp,
    DeliverSm: DeliverSmResp,
    EnquireLink: EnquireLinkResp,
    Unbind: UnbindResp,
}


def response_for(request: PduBase, *, command_status: int = 0, **fields: Any) -> PduBase:
    """The response matching `request`, with its sequence number (generic_nack if it has no own response)."""
    cls = REQUEST_TO_RESPONSE.get(type(request), GenericNack)
    return cls(sequence_number=request.sequence_number, command_status=command_status, **fields)
