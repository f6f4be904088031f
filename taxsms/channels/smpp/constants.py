"""SMPP 3.4 numbers: command ids, command statuses, TLV tags, message states, data codings, flags."""

from __future__ import annotations

from enum import IntEnum

HEADER_LENGTH = 16
MAX_PDU_LENGTH = 65536  # our own limit on command_length: anything larger is taken as a broken stream
ESM_CLASS_DELIVERY_RECEIPT = 0x04
ESM_CLASS_UDHI = 0x40
RESPONSE_BIT = 0x80000000


class CommandId(IntEnum):
    """command_id of every SMPP 3.4 operation; a response is its request's id | 0x80000000."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class CommandStatus(IntEnum):
    """command_status values of SMPP 3.4 (section 5.1.3)."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


#: "Slow down": the SMSC is busy, the submit itself is fine. The SMPP session pauses the bind with back-off
#: and sends the same PDU again; such an answer never reaches the job.
THROTTLING_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})

#: Submit failures worth trying again later: the worker reschedules the job with back-off (up to its
#: max_retries), instead of failing it for good as it does for every other error status.
TRANSIENT_FAILURE_STATUSES = frozenset(
    {
        CommandStatus.ESME_RSYSERR,
        CommandStatus.ESME_RSUBMITFAIL,
        CommandStatus.ESME_RX_T_APPN,
        CommandStatus.ESME_RDELIVERYFAILURE,
        CommandStatus.ESME_RUNKNOWNERR,
    }
)

#: A bind refused for its credentials: retrying at once would not help and may lock the account.
#: Not ESME_RBINDFAIL: SMSCs answer it for passing trouble too (too many binds, a restart), so it reconnects
#: with the ordinary back-off (a worker that waited minutes on it sat on its claimed jobs meanwhile).
BIND_CREDENTIAL_STATUSES = frozenset(
    {
        CommandStatus.ESME_RINVPASWD,
        CommandStatus.ESME_RINVSYSID,
        CommandStatus.ESME_RINVSYSTYP,
    }
)

_STATUS_NAMES = {int(status): status.name for status in CommandStatus}


def status_name(code: int) -> str:
    """The SMPP name of a command_status, or "0x%08X" for one SMPP 3.4 does not define (never raises)."""
    try:
        return _STATUS_NAMES[code]
    except (KeyError, TypeError):
        return f"0x{code:08X}" if isinstance(code, int) else repr(code)


class Tag(IntEnum):
    """TLV (optional parameter) tags we model."""

    RECEIPTED_MESSAGE_ID = 0x001E
    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class MessageState(IntEnum):
    """message_state TLV values (SMPP 3.4 section 5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class DataCoding(IntEnum):
    """data_coding values we send or decode."""

    DEFAULT = 0  # SMSC default alphabet: GSM 03.38, unpacked over SMPP
    IA5 = 1
    LATIN1 = 3
    UCS2 = 8
