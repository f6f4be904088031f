"""Fuzzing the two parsers that take bytes from outside: the SMPP decoder and the job parser.

decode() and PduReader read whatever the SMSC (or, in the simulator, an ESME) sends; parse_job() reads what
upstream systems XADD. Neither may raise anything but its own error type, whatever the input. Inputs that
once broke something are kept as @example()s and as files under tests/fuzz_seeds/ (pdu/*.bin, job/*.json),
checked on every run; bench/fuzz_atheris.py fuzzes the same targets for longer, starting from those files.
"""

from __future__ import annotations

import itertools
import os
import struct
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_smpp_codec import any_pdu

from taxsms.channels.smpp import (
    MAX_PDU_LENGTH,
    CommandId,
    FramingError,
    InvalidPduError,
    PduReader,
    decode,
    encode,
    error_response,
)
from taxsms.queue.jobs import Job, JobError, Kind, encode_job, parse_job

SEEDS = Path(__file__).parent / "fuzz_seeds"
PDU_SEEDS = sorted((SEEDS / "pdu").glob("*.bin"))
JOB_SEEDS = sorted((SEEDS / "job").glob("*.json"))
HEADER = struct.Struct(">IIII")
VALID_JOB = {"id": "j1", "kind": "notice", "to": "13800138000", "text": "【某市税务局】请按期申报。"}
#: TAXSMS_FUZZ_EXAMPLES=20000 for a longer hunt (the default keeps the file at a few seconds)
FUZZ = settings(
    max_examples=int(os.environ.get("TAXSMS_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- the properties -----------------------------------------------------------------------------------------


def check_decode(data: bytes) -> None:
    """decode() returns a PDU or raises InvalidPduError (answerable) / FramingError (shorter than a header)."""
    try:
        pdu = decode(data)
    except InvalidPduError as err:
        error_response(err)  # what the session answers with must always be buildable
        encode(error_response(err))
    except FramingError:
        assert len(data) < 16
    else:
        assert pdu.command_id == HEADER.unpack_from(data)[1]


def check_reader(data: bytes, cuts: list[int]) -> None:
    """Any chunking: the reader yields the PDUs it yields for the whole stream, or FramingError; never else."""
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    whole, chunked = PduReader(), PduReader()
    whole_broken = False
    try:
        expected: list[Any] = whole.feed(data)
    except FramingError as err:
        expected, whole_broken = list(err.pdus), True
    got: list[Any] = []
    broken = False
    for a, b in itertools.pairwise(points):
        try:
            got += chunked.feed(data[a:b])
        except FramingError as err:
            got += err.pdus
            broken = True
            break
    if broken:
        with pytest.raises(FramingError):  # once broken, always broken
            chunked.feed(b"\x00\x00\x00\x10")
    assert broken == whole_broken
    assert [_key(p) for p in got] == [_key(p) for p in expected]


def _key(item: Any) -> Any:
    if isinstance(item, InvalidPduError):
        return ("invalid", item.command_id, item.sequence_number, item.command_status)
    return item


def check_job(data: bytes | str) -> None:
    """parse_job() returns a job that is usable downstream, or raises JobError; nothing else."""
    try:
        job = parse_job(data)
    except JobError as err:
        assert err.field and err.reason
        return
    assert isinstance(job, Job)
    assert parse_job(encode_job(job)) == job  # what the intake stores parses back to the same job
    job.lane  # noqa: B018 - the lane picks the stream: it must exist for every accepted job
    job.not_before_ts  # noqa: B018
    job.expires_ts  # noqa: B018


# -- the SMPP decoder ---------------------------------------------------------------------------------------


@given(st.binary(max_size=600))
@FUZZ
@example(b"")
@example(b"\x00\x00\x00\x10\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01")  # submit_sm with no body at all
@example(b"\x00\x00\x00\x11\x80\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\x00")  # submit_sm_resp, id ""
@example(b"\xff\xff\xff\xff\x00\x00\x00\x15\x00\x00\x00\x00\x00\x00\x00\x01")  # length beyond the frame
def test_decode_arbitrary_bytes(data: bytes) -> None:
    check_decode(data)


@st.composite
def framed(draw: st.DrawFn) -> bytes:
    """A frame with a correct command_length and a known command_id (so decoding gets past the header)."""
    command = draw(st.sampled_from([int(c) for c in CommandId]))
    body = draw(st.binary(max_size=400))
    return HEADER.pack(16 + len(body), command, draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))) + body


@given(framed())
@FUZZ
def test_decode_framed_garbage(data: bytes) -> None:
    check_decode(data)


@st.composite
def mutated_pdus(draw: st.DrawFn) -> bytes:
    """A valid PDU with bytes flipped, inserted, deleted or truncated; command_length fixed up (or not)."""
    data = bytearray(encode(draw(any_pdu)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "truncate", "tlv")))
        pos = draw(st.integers(16, max(16, len(data))))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and pos < len(data):
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        elif op == "tlv":  # a TLV with any tag and a length that may lie
            tag, length = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
            data += struct.pack(">HH", tag, length) + draw(st.binary(max_size=12))
    if draw(st.booleans()):
        data[0:4] = len(data).to_bytes(4, "big")
    return bytes(data)


@given(mutated_pdus())
@FUZZ
def test_decode_mutated_valid_pdus(data: bytes) -> None:
    check_decode(data)


@given(mutated_pdus())
@FUZZ
def test_decoded_pdus_encode_back_to_the_same_pdu(data: bytes) -> None:
    """What the decoder accepts, the encoder writes, and that decodes to the same PDU."""
    try:
        pdu = decode(data)
    except (InvalidPduError, FramingError):
        return
    assert decode(encode(pdu)) == pdu


# -- the stream reader ---------------------------------------------------------------------------------------


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Valid PDUs, mutated ones and raw garbage, concatenated."""
    parts = draw(st.lists(st.one_of(any_pdu.map(encode), mutated_pdus(), framed(), st.binary(max_size=40)), max_size=6))
    return b"".join(parts)


@given(st.binary(max_size=400) | streams(), st.lists(st.integers(min_value=0), max_size=40))
@FUZZ
@example(b"\x00\x00\x00\x0f", [])  # command_length 15: below a header
@example(MAX_PDU_LENGTH.to_bytes(4, "big") + bytes(12), [1, 2, 3])  # a huge PDU that never completes
@example((MAX_PDU_LENGTH + 1).to_bytes(4, "big"), [2])
def test_reader_any_chunking_of_any_bytes(data: bytes, cuts: list[int]) -> None:
    check_reader(data, cuts)


# -- the job parser ------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_TIMES = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59", "9999-12-31T23:59:59-23:59", "2026-02-30"]),
    st.text(max_size=30),
)
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.text(max_size=140) | json_values,
    "kind": st.sampled_from([k.value for k in Kind]) | json_values,
    "to": st.sampled_from(["13800138000", "+86 138-0013-8000", "008613800138000", "8613800138000"])
    | st.text(max_size=20),
    "text": st.sampled_from(["【某市税务局】通知", "通知【某县税务局】", " ", ""]) | st.text(max_size=60),
    "template": st.text(max_size=10),
    "vars": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers() | st.floats()) | json_values,
    "unit": st.text(max_size=10),
    "priority": st.integers(-2, 6) | st.integers() | json_values,
    "not_before": _TIMES,
    "expires_at": _TIMES,
    "meta": json_values,
    "v": st.integers() | json_values,
    "nonsense": json_values,
}


@st.composite
def job_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A mostly valid job with some fields replaced, added or dropped (to get past the type checks)."""
    job: dict[str, Any] = dict(VALID_JOB)
    for name in draw(st.lists(st.sampled_from(sorted(_FIELD_VALUES)), max_size=3, unique=True)):
        job[name] = draw(_FIELD_VALUES[name])
    for name in draw(st.lists(st.sampled_from(sorted(VALID_JOB)), max_size=2, unique=True)):
        job.pop(name, None)
    return job


_TYPED_JOBS = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=130),
        "kind": st.sampled_from([k.value for k in Kind]),
        "to": _FIELD_VALUES["to"],
        "text": _FIELD_VALUES["text"],
    },
    optional={
        "template": st.text(max_size=5),
        "vars": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(-(2**63), 2**63 - 1)),
        "priority": st.integers(-5, 10),
        "not_before": _TIMES,
        "expires_at": _TIMES,
        "v": st.integers(0, 2),
    },
)


@given(_TYPED_JOBS)
@FUZZ
def test_parse_job_well_typed_jobs(job: dict[str, Any]) -> None:
    """Every field of the right type, so each input reaches validate_job's rules."""
    check_job(msgspec.json.encode(job))


@given(st.binary(max_size=300) | st.text(max_size=300))
@FUZZ
@example(b"\xff\xfe")
@example("[]")
@example("null")
@example('{"id": "x"' + "[" * 5000)
def test_parse_job_arbitrary_input(data: bytes | str) -> None:
    check_job(data)


@given(json_values)
@FUZZ
def test_parse_job_any_json_value(value: Any) -> None:
    check_job(msgspec.json.encode(value))


@given(job_objects())
@FUZZ
@example({**VALID_JOB, "not_before": "0001-01-01T00:00:00", "expires_at": "0001-01-01T00:00:01"})
@example({**VALID_JOB, "expires_at": "9999-12-31T23:59:59-23:59"})
@example({**VALID_JOB, "id": "a\u2028b"})
@example({**VALID_JOB, "priority": 0})
def test_parse_job_mutated_jobs(job: dict[str, Any]) -> None:
    check_job(msgspec.json.encode(job))


@pytest.mark.parametrize("priority", [-1, 4, 99])  # found by fuzzing: once accepted, then Job.lane raised
def test_a_reply_with_an_out_of_range_priority_is_refused(priority: int) -> None:
    data = msgspec.json.encode({**VALID_JOB, "kind": "reply", "priority": priority})
    with pytest.raises(JobError, match="priority"):
        parse_job(data)


# Found by fuzzing: msgspec raises UnicodeDecodeError (not DecodeError) for invalid UTF-8 inside a JSON string;
# parse_job let it through and in the worker it killed the read-lanes task.
@pytest.mark.parametrize("data", [b'{"id": "\xe8"}', b'{"\xff": 1}', b'{"id":"j1","kind":"notice","text":"\xc3("}'])
def test_invalid_utf8_inside_a_json_string_is_a_job_error(data: bytes) -> None:
    with pytest.raises(JobError):
        parse_job(data)


@st.composite
def json_with_bad_utf8(draw: st.DrawFn) -> bytes:
    """A job whose JSON is well formed but one string holds bytes that are not UTF-8."""
    encoded = bytearray(msgspec.json.encode(draw(_TYPED_JOBS)))
    quotes = [i for i, c in enumerate(encoded) if c == ord('"')]
    at = draw(st.sampled_from(quotes)) + 1
    encoded[at:at] = draw(st.sampled_from([b"\xff", b"\xe8", b"\xc3(", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
    return bytes(encoded)


@given(json_with_bad_utf8())
@FUZZ
def test_parse_job_bad_utf8_in_strings(data: bytes) -> None:
    check_job(data)


# -- the seed corpus ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PDU_SEEDS, ids=[p.name for p in PDU_SEEDS])
def test_pdu_seed(path: Path) -> None:
    data = path.read_bytes()
    check_decode(data)
    check_reader(data, list(range(len(data))))  # one byte at a time
    check_reader(data + data, [len(data)])


@pytest.mark.parametrize("path", JOB_SEEDS, ids=[p.name for p in JOB_SEEDS])
def test_job_seed(path: Path) -> None:
    data = path.read_bytes()
    check_job(data)


def test_the_seed_corpus_is_there() -> None:
    assert len(PDU_SEEDS) >= 5 and len(JOB_SEEDS) >= 5


def test_a_pdu_with_both_short_message_and_message_payload_is_refused() -> None:
    """The encoder refuses short_message with message_payload (SMPP 3.4 5.3.2.32), so the decoder does too:
    found by test_decoded_pdus_encode_back_to_the_same_pdu (decoded, then not encodable)."""
    from taxsms.channels.smpp import CommandStatus, DeliverSm

    frame = encode(DeliverSm(sequence_number=7, source_addr="13900000001", short_message=b"ab"))
    frame += struct.pack(">HH", 0x0424, 2) + b"cd"  # message_payload TLV as well
    frame = struct.pack(">I", len(frame)) + frame[4:]
    with pytest.raises(InvalidPduError) as refused:
        decode(frame)
    assert refused.value.command_status == CommandStatus.ESME_RINVMSGLEN
    assert "message_payload" in str(refused.value)
