"""PduReader: any chunking of a byte stream gives the same PDUs; garbage is contained."""

from __future__ import annotations

import struct
import time
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_smpp_codec import any_pdu, frame

from taxsms.channels.smpp import (
    MAX_PDU_LENGTH,
    CommandId,
    CommandStatus,
    DeliverSm,
    EnquireLink,
    FramingError,
    GenericNack,
    InvalidPduError,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    decode,
    encode,
    error_response,
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in pairwise(points)]


def feed_all(reader: PduReader, chunks: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        out.extend(reader.feed(chunk))
    return out


@given(st.lists(any_pdu, min_size=1, max_size=8), st.lists(st.integers(min_value=0), max_size=30))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_chunking_yields_the_same_pdus(pdus: list[Any], cuts: list[int]) -> None:
    stream = b"".join(encode(p) for p in pdus)
    reader = PduReader()
    assert feed_all(reader, split(stream, cuts)) == pdus
    assert reader.buffered == 0


def test_one_byte_at_a_time_and_all_at_once() -> None:
    pdus = [
        SubmitSmResp(sequence_number=i, message_id=f"id{i}") if i % 3 else EnquireLink(sequence_number=i)
        for i in range(1, 50)
    ]
    stream = b"".join(map(encode, pdus))
    reader = PduReader()
    out = feed_all(reader, [stream[i : i + 1] for i in range(len(stream))])
    assert out == pdus
    assert PduReader().feed(stream) == pdus


def test_partial_pdu_is_buffered() -> None:
    data = encode(SubmitSmResp(sequence_number=1, message_id="abc"))
    reader = PduReader()
    assert reader.feed(data[:3]) == []
    assert reader.buffered == 3
    assert reader.feed(data[3:-1] + b"") == []
    assert reader.feed(data[-1:] + data[:5]) == [SubmitSmResp(sequence_number=1, message_id="abc")]
    assert reader.buffered == 5


def test_a_64k_pdu_fed_one_byte_at_a_time_is_not_quadratic() -> None:
    big = encode(SubmitSm(sequence_number=1, message_payload=b"x" * 65000))
    reader = PduReader()
    started = time.perf_counter()
    out = feed_all(reader, [big[i : i + 1] for i in range(len(big))])
    assert out == [decode(big)]
    assert time.perf_counter() - started < 2.0  # ~65k feeds; quadratic copying would take far longer


def test_invalid_pdus_are_returned_and_the_stream_goes_on() -> None:
    good = encode(EnquireLink(sequence_number=1))
    unknown = frame(0x00000099, b"junk", seq=2)
    bad_sm_length = frame(CommandId.SUBMIT_SM, encode(SubmitSm(sequence_number=3, short_message=b"abc"))[16:-3])
    out = PduReader().feed(good + unknown + bad_sm_length + good)
    assert out[0] == out[3] == EnquireLink(sequence_number=1)
    assert isinstance(out[1], InvalidPduError)
    assert out[1].command_status == CommandStatus.ESME_RINVCMDID
    assert error_response(out[1]) == GenericNack(sequence_number=2, command_status=CommandStatus.ESME_RINVCMDID)
    assert isinstance(out[2], InvalidPduError)
    assert out[2].command_status == CommandStatus.ESME_RINVMSGLEN
    assert error_response(out[2]) == SubmitSmResp(sequence_number=7, command_status=CommandStatus.ESME_RINVMSGLEN)


@pytest.mark.parametrize("length", [0, 1, 15, MAX_PDU_LENGTH + 1, 0xFFFFFFFF])
def test_impossible_command_length_is_a_framing_error(length: int) -> None:
    reader = PduReader()
    good = encode(EnquireLink(sequence_number=5))
    with pytest.raises(FramingError) as info:
        reader.feed(good + struct.pack(">I", length))  # known from the 4 length octets alone
    assert info.value.pdus == [EnquireLink(sequence_number=5)]  # what came before is not lost
    with pytest.raises(FramingError):  # the stream cannot be trusted any more
        reader.feed(good)


def test_command_length_limits_are_inclusive() -> None:
    reader = PduReader()
    assert reader.feed(frame(CommandId.ENQUIRE_LINK, b"")) == [EnquireLink(sequence_number=7)]  # 16
    room = MAX_PDU_LENGTH - len(encode(DeliverSm(sequence_number=1, message_payload=b"")))
    big = encode(DeliverSm(sequence_number=1, message_payload=b"x" * room))
    assert len(big) == MAX_PDU_LENGTH
    assert reader.feed(big) == [decode(big)]


@given(st.lists(st.binary(max_size=64), max_size=20))
@settings(max_examples=300)
def test_random_garbage_only_raises_framing_error(chunks: list[bytes]) -> None:
    reader = PduReader()
    try:
        for chunk in chunks:
            for item in reader.feed(chunk):
                assert isinstance(item, InvalidPduError) or hasattr(item, "command_id")
    except FramingError:
        pass


@st.composite
def plausible_garbage(draw: st.DrawFn) -> bytes:
    """Frames with a sane command_length but random command ids and bodies, sometimes a real PDU."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            parts.append(encode(draw(any_pdu)))
        else:
            command_id = draw(st.sampled_from([int(c) for c in CommandId]) | st.integers(0, 0xFFFFFFFF))
            parts.append(frame(command_id, draw(st.binary(max_size=120)), seq=draw(st.integers(0, 0xFFFFFFFF))))
    return b"".join(parts)


@given(plausible_garbage(), st.lists(st.integers(min_value=0), max_size=10))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_plausible_garbage_never_raises(stream: bytes, cuts: list[int]) -> None:
    reader = PduReader()
    out = feed_all(reader, split(stream, cuts))  # no exception at all: every length is sane
    assert reader.buffered == 0
    for item in out:
        if isinstance(item, InvalidPduError):
            assert error_response(item).sequence_number == item.sequence_number
