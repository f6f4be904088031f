"""Message text over SMPP: GSM 03.38 7-bit or UCS2, split into concatenated parts with a UDH.

GSM 03.38 travels over SMPP unpacked (one septet per octet, data_coding 0); extension characters take two
septets (ESC + code) and an escape is never split across parts. UCS2 is UTF-16BE (data_coding 8); a
surrogate pair is never split either. Multipart messages carry the 8-bit-reference UDH 05 00 03 REF TOTAL SEQ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import msgspec

from taxsms.channels.smpp.constants import ESM_CLASS_UDHI, DataCoding

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D, "]": 0x3E,
                  "|": 0x40, "€": 0x65}  # fmt: skip
ESC = 0x1B
assert len(GSM7_BASIC) == 128

_ENCODE_TABLE = {ord(ch): chr(code) for code, ch in enumerate(GSM7_BASIC) if code != ESC}
_ENCODE_TABLE.update({ord(ch): chr(ESC) + chr(code) for ch, code in GSM7_EXTENSION.items()})
_DECODE_BASIC = {code: ch for code, ch in enumerate(GSM7_BASIC) if code != ESC}
_DECODE_EXTENSION = {code: ch for ch, code in GSM7_EXTENSION.items()}
_GSM7_CHARS = "".join(ch for code, ch in enumerate(GSM7_BASIC) if code != ESC) + "".join(GSM7_EXTENSION)
_FITS_GSM7 = re.compile(f"[{re.escape(_GSM7_CHARS)}]*")
_NOT_GSM7 = re.compile(f"[^{re.escape(_GSM7_CHARS)}]")

UDH_LENGTH = 6
LIMITS = {"gsm7": (160, 153), "ucs2": (70, 67)}  # units in a single message / in each part of a multipart one


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text travels: encoding, data_coding, length in units (septets or UTF-16 code units), parts."""

    encoding: Literal["gsm7", "ucs2"]
    data_coding: int
    units: int
    segments: int


class EncodedMessage(msgspec.Struct, frozen=True):
    """A text ready for submit_sm: one short_message per part (UDH included when multipart)."""

    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]

    @property
    def segments(self) -> int:
        return len(self.parts)


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation info from a UDH: which part of which message."""

    reference: int
    total: int
    seqnum: int


def fits_gsm7(text: str) -> bool:
    return _FITS_GSM7.fullmatch(text) is not None


def gsm7_encode(text: str) -> bytes:
    """Unpacked GSM 03.38 septets, one per octet. Raises ValueError naming the first character that won't fit."""
    if not fits_gsm7(text):
        bad = _NOT_GSM7.search(text)
        char = bad.group() if bad else "?"
        raise ValueError(f"character {char!r} (U+{ord(char):04X}) is not in the GSM 03.38 alphabet")
    return text.translate(_ENCODE_TABLE).encode("latin-1")


def gsm7_decode(data: bytes) -> str:
    """Decode unpacked septets; unknown codes become '?', a dangling ESC becomes a space (as 03.38 says)."""
    out = []
    escape = False
    for octet in data:
        code = octet & 0x7F
        if escape:
            out.append(_DECODE_EXTENSION.get(code, _DECODE_BASIC.get(code, "?")))
            escape = False
        elif code == ESC:
            escape = True
        else:
            out.append(_DECODE_BASIC[code])
    if escape:
        out.append(" ")
    return "".join(out)


def _encode(text: str) -> tuple[Literal["gsm7", "ucs2"], bytes]:
    if fits_gsm7(text):
        return "gsm7", text.translate(_ENCODE_TABLE).encode("latin-1")
    return "ucs2", text.encode("utf-16-be", "surrogatepass")


def _split(encoding: str, data: bytes) -> list[bytes]:
    """Cut an encoded text into part payloads without breaking an escape or a surrogate pair."""
    single, per_part = LIMITS[encoding]
    width = 1 if encoding == "gsm7" else 2
    if len(data) <= single * width:
        return [data]
    size = per_part * width
    parts = []
    start = 0
    while start < len(data):
        end = min(start + size, len(data))
        if end < len(data):
            if width == 1 and data[end - 1] == ESC:
                end -= 1  # keep ESC with the code it escapes
            elif width == 2 and 0xD8 <= data[end - 2] <= 0xDB:
                end -= 2  # keep a high surrogate with its low surrogate
        parts.append(data[start:end])
        start = end
    return parts


def segment_info(text: str) -> SegmentInfo:
    """Encoding and number of SMS segments `text` costs (agrees exactly with encode_message)."""
    encoding, data = _encode(text)
    width = 1 if encoding == "gsm7" else 2
    data_coding = DataCoding.DEFAULT if encoding == "gsm7" else DataCoding.UCS2
    return SegmentInfo(encoding, int(data_coding), len(data) // width, len(_split(encoding, data)))


def encode_message(text: str, reference: int) -> EncodedMessage:
    """Encode `text` for submit_sm; more than one part gets a UDH with the 8-bit `reference` (0-255)."""
    encoding, data = _encode(text)
    data_coding = int(DataCoding.DEFAULT if encoding == "gsm7" else DataCoding.UCS2)
    chunks = _split(encoding, data)
    if len(chunks) == 1:
        return EncodedMessage(data_coding, 0, (data,))
    if len(chunks) > 255:
        raise ValueError(f"text needs {len(chunks)} parts; a concatenated SMS has at most 255")
    total, ref = len(chunks), reference & 0xFF
    parts = tuple(bytes((5, 0, 3, ref, total, seq)) + chunk for seq, chunk in enumerate(chunks, 1))
    return EncodedMessage(data_coding, ESM_CLASS_UDHI, parts)


def parse_concat_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """Split a UDH off a short_message: (concatenation info or None, payload). Raises ValueError if malformed."""
    if not short_message:
        raise ValueError("UDHI set but the message is empty")
    udh_length = short_message[0]
    if udh_length + 1 > len(short_message):
        raise ValueError(f"UDH length {udh_length} exceeds the message ({len(short_message)} octets)")
    udh, payload = short_message[1 : 1 + udh_length], short_message[1 + udh_length :]
    concat = None
    pos = 0
    while pos < len(udh):
        if pos + 2 > len(udh):
            raise ValueError("truncated information element in UDH")
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise ValueError(f"information element 0x{iei:02X} runs past the UDH")
        if iei == 0x00 and length == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == 0x08 and length == 4:
            concat = Concat((value[0] << 8) | value[1], value[2], value[3])
        pos += 2 + length
    if concat is not None and not (1 <= concat.seqnum <= concat.total):
        raise ValueError(f"concatenation part {concat.seqnum} of {concat.total} is impossible")
    return concat, payload


def decode_short_message(data: bytes, data_coding: int) -> str:
    """Text of a short message from the wire (untrusted: never raises)."""
    if data_coding == DataCoding.DEFAULT:
        return gsm7_decode(data)
    if data_coding == DataCoding.UCS2:
        if len(data) % 2:
            data = data[:-1]
        return data.decode("utf-16-be", "replace")
    if data_coding == DataCoding.IA5:
        return data.decode("ascii", "replace")
    return data.decode("latin-1")
