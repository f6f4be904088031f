"""How taxsms addresses a submit_sm to a mainland China mobile: TON/NPI, the +86 prefix, validity, receipts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from taxsms.channels.smpp import EncodedMessage, submit_sm_frame

CHINA_TIME = timezone(timedelta(hours=8), "CST")  # no daylight saving: SMPP's offset is always 32 quarter hours
TON_INTERNATIONAL, TON_ALPHANUMERIC, NPI_E164 = 1, 5, 1
COUNTRY_CODE = "86"
RECEIPT_REQUESTED = 1  # registered_delivery: a receipt for the final outcome, delivered or not


class Addressing:
    """The submit_sm fields that depend on who sends and to whom, not on the text."""

    __slots__ = ("source_addr", "source_addr_ton")

    def __init__(self, source_addr: str) -> None:
        self.source_addr = source_addr
        self.source_addr_ton = 0 if source_addr.isdigit() else TON_ALPHANUMERIC  # a short code, or a name

    def submit_sm(self, to: str, expires_ts: float | None, message: EncodedMessage) -> list[bytes]:
        """The submit_sm frames of `message`'s parts to the national number `to`, valid until `expires_ts`
        (None: the SMSC's default), as raw frames (smpp.submit_sm_frame: no dataclass per part)."""
        destination, validity = COUNTRY_CODE + to, smpp_time(expires_ts) if expires_ts else ""
        source, ton, esm_class, coding = self.source_addr, self.source_addr_ton, message.esm_class, message.data_coding
        return [
            submit_sm_frame(
                ton, source, TON_INTERNATIONAL, NPI_E164, destination, esm_class, RECEIPT_REQUESTED, validity,
                coding, part,
            )
            for part in message.parts
        ]  # fmt: skip


def smpp_time(ts: float) -> str:
    """SMPP 3.4 absolute time (7.1.1) in China time: YYMMDDhhmmss, tenths, offset in quarter hours, '+'."""
    moment = datetime.fromtimestamp(ts, CHINA_TIME)
    return f"{moment:%y%m%d%H%M%S}{moment.microsecond // 100_000}32+"
