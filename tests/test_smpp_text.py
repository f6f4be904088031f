"""Text coding and segmenting: GSM 03.38 vs UCS2, part sizes, escapes and surrogate pairs at part edges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from smpplib import gsm as smpplib_gsm

from taxsms.channels.smpp.text import (
    ESC,
    decode_short_message,
    encode_message,
    fits_gsm7,
    gsm7_decode,
    gsm7_encode,
    parse_concat_udh,
    segment_info,
)


def reassemble(text: str) -> str:
    """Encode, then decode every part and join them: what a handset shows."""
    message = encode_message(text, reference=7)
    payloads = []
    for part in message.parts:
        if len(message.parts) > 1:
            concat, payload = parse_concat_udh(part)
            assert concat is not None and concat.reference == 7 and concat.total == len(message.parts)
        else:
            payload = part
        payloads.append(payload)
    return "".join(decode_short_message(p, message.data_coding) for p in payloads)


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 306, "gsm7", 2),  # 2 × 153
        ("a" * 307, "gsm7", 3),
        ("€" * 80, "gsm7", 1),  # escapes count as two septets: 160
        ("€" * 81, "gsm7", 2),
        ("税" * 70, "ucs2", 1),
        ("税" * 71, "ucs2", 2),
        ("税" * 134, "ucs2", 2),  # 2 × 67
        ("税" * 135, "ucs2", 3),
        ("a" * 159 + "税", "ucs2", 3),  # one Chinese character turns the whole text into UCS2
        ("", "gsm7", 1),
    ],
)
def test_segment_counts(text: str, encoding: str, segments: int) -> None:
    info = segment_info(text)
    assert (info.encoding, info.segments) == (encoding, segments)
    assert len(encode_message(text, 1).parts) == segments


def test_single_part_has_no_udh() -> None:
    message = encode_message("【某市税务局】请于15日前申报。", 1)
    assert message.esm_class == 0 and message.data_coding == 8
    assert message.parts[0] == "【某市税务局】请于15日前申报。".encode("utf-16-be")


def test_parts_respect_the_size_limits() -> None:
    for text in ("x" * 1000, "税" * 500, "€" * 400):
        message = encode_message(text, 3)
        width = 153 if message.data_coding == 0 else 134
        assert all(len(part) - 6 <= width for part in message.parts)


def test_escape_is_never_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the escape would straddle octets 153/154
    message = encode_message(text, 1)
    first = message.parts[0][6:]
    assert first[-1] != ESC and len(first) == 152
    assert reassemble(text) == text


def test_surrogate_pair_is_never_split_across_parts() -> None:
    text = "税" * 66 + "😀" + "税" * 10  # the emoji's surrogate pair would straddle code units 67/68
    message = encode_message(text, 1)
    first = message.parts[0][6:]
    assert len(first) == 132
    assert segment_info(text).segments == len(message.parts)
    assert reassemble(text) == text


def test_gsm7_matches_smpplib_for_the_basic_and_extension_tables() -> None:
    text = "Hello @£$ {[~]} \\ ^ | € ÄÖÑÜ¿ àèé"  # smpplib lacks § (0x5F), which we carry
    assert fits_gsm7(text)
    ours = gsm7_encode(text)
    theirs, _, _ = smpplib_gsm.make_parts(text)
    assert ours == theirs[0]
    assert gsm7_decode(ours) == text


def test_gsm7_refuses_what_it_cannot_carry() -> None:
    assert not fits_gsm7("税")
    with pytest.raises(ValueError, match="U\\+7A0E"):
        gsm7_encode("tax 税")


def test_decoding_untrusted_bytes_never_raises() -> None:
    assert decode_short_message(b"\x00\x41\x00", 8) == "A"  # odd UCS2 length
    assert decode_short_message(b"\x1b", 0) == " "  # dangling escape
    with pytest.raises(ValueError):
        parse_concat_udh(b"\x05\x00\x03")


@given(st.text(alphabet=st.sampled_from("ab€{税😀 "), max_size=400))
def test_any_text_survives_segmenting(text: str) -> None:
    assert reassemble(text) == text
    assert segment_info(text).segments == len(encode_message(text, 9).parts)
