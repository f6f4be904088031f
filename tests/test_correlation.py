"""Receipt ids in either base: candidates and the choice between the messages found (pure, no Redis)."""

from __future__ import annotations

import pytest

from taxsms.queue.correlation import Form, Found, IdConvention, Verdict, candidates, choose, normalise_message_id


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("ABC1", "abc1"), (" 0000abc1\n", "abc1"), ("12345", "12345"), ("000", "0"), ("0", "0"), ("a-B-0", "a-b-0")],
)
def test_normalise_message_id(raw: str, normalised: str) -> None:
    assert normalise_message_id(raw) == normalised


def test_candidates_of_an_id_valid_in_both_bases() -> None:
    assert candidates("17") == {"17": Form.SAME, "11": Form.DECIMAL_OF_HEX, "23": Form.HEX_OF_DECIMAL}
    assert candidates("0017") == candidates("17")
    assert candidates("9") == {"9": Form.SAME}  # the same in both bases
    assert candidates("1A") == {"1a": Form.SAME, "26": Form.HEX_OF_DECIMAL}
    assert candidates("msg-7") == {"msg-7": Form.SAME}


@pytest.mark.parametrize("value", [0, 9, 10, 15, 16, 17, 255, 4096, 2**40, 2**64 - 1])
def test_hex_and_decimal_forms_find_each_other(value: int) -> None:
    hex_id, dec_id = format(value, "x"), str(value)
    assert hex_id in candidates(dec_id) and dec_id in candidates(hex_id)


def found(message_id: str, form: Form, phone: str = "") -> Found:
    return Found(message_id, form, f"job-{message_id} 1 {phone}", phone)


def test_a_single_match_is_taken_and_teaches_the_convention() -> None:
    convention = IdConvention()
    verdict, chosen = choose(candidates("26"), [found("1a", Form.DECIMAL_OF_HEX)], "", convention)
    assert verdict is Verdict.MATCHED and chosen is not None and chosen.message_id == "1a"
    assert convention.seen[Form.DECIMAL_OF_HEX] == 1


def test_receipt_17_for_message_0x11_never_goes_to_the_job_of_message_17() -> None:
    """The issue's case: the receipt text says 17 (decimal) for the message submit_sm_resp called 11 (hex)."""
    hex_11 = found("11", Form.DECIMAL_OF_HEX, "13900000001")
    hex_17 = found("17", Form.SAME, "13900000002")
    verdict, chosen = choose(candidates("17"), [hex_17, hex_11], "13900000001", IdConvention())
    assert verdict is Verdict.MATCHED and chosen is hex_11
    # Only the other job's message is live (ours not recorded yet): not applied, kept for ours.
    verdict, chosen = choose(candidates("17"), [hex_17], "13900000001", IdConvention())
    assert verdict is Verdict.MISMATCH and chosen is None


def test_two_candidates_to_one_phone_wait_for_the_learned_convention() -> None:
    a, b = found("11", Form.DECIMAL_OF_HEX, "13900000001"), found("17", Form.SAME, "13900000001")
    convention = IdConvention()
    assert choose(candidates("17"), [a, b], "13900000001", convention) == (Verdict.AMBIGUOUS, None)
    for _ in range(10):
        convention.learn(Form.DECIMAL_OF_HEX)
    assert convention.usual is Form.DECIMAL_OF_HEX
    assert choose(candidates("17"), [a, b], "13900000001", convention) == (Verdict.MATCHED, a)


def test_without_phones_a_known_convention_refuses_a_match_in_another_form() -> None:
    convention = IdConvention()
    for _ in range(10):
        convention.learn(Form.DECIMAL_OF_HEX)
    assert choose(candidates("17"), [found("17", Form.SAME)], "", convention) == (Verdict.MISMATCH, None)
    assert choose(candidates("17"), [found("11", Form.DECIMAL_OF_HEX)], "", convention)[0] is Verdict.MATCHED


def test_a_convention_needs_a_clear_majority() -> None:
    convention = IdConvention()
    assert convention.usual is None
    for form in (Form.SAME, Form.SAME, Form.DECIMAL_OF_HEX):
        convention.learn(form)
    assert convention.usual is None
    assert choose(candidates("5"), [], "", convention) == (Verdict.UNKNOWN, None)
