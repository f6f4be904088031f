"""Classifying what taxpayers text in: pure, no I/O."""

from __future__ import annotations

import pytest

from taxsms.replies.keywords import (
    FreeText,
    InvoiceCheck,
    InvoiceHelp,
    StatusHelp,
    StatusQuery,
    Subscribe,
    Unsubscribe,
    classify,
    normalise,
    parse_invoice_numbers,
)


@pytest.mark.parametrize("text", ["KT", "kt", " kt ", "Kt", "ＫＴ", "ｋｔ", "开通", " 开通 ", "K T", "kt。", "KT!"])
def test_subscribe(text: str) -> None:
    assert classify(text) == Subscribe()


def test_subscribe_with_taxpayer_id() -> None:
    assert classify("KT 91110000MA01234567") == Subscribe("91110000MA01234567")
    assert classify("开通９１１１００００ｍａ０１２３４５６７") == Subscribe("91110000MA01234567")


@pytest.mark.parametrize(
    "text", ["TD", "td", "Td", " T ", "t", "ＴＤ", "QX", "qx", "取消", "退订", " 退订\n", "退 订", "ＱＸ", "TD。"]
)
def test_unsubscribe(text: str) -> None:
    assert classify(text) == Unsubscribe()


CODE12, CODE10, NUMBER = "041001900111", "0410019001", "12345678"


@pytest.mark.parametrize(
    "text",
    [
        f"FP {CODE12} {NUMBER}",
        f"fp{CODE12} {NUMBER}",
        f"ＦＰ　{CODE12}　{NUMBER}",
        f"FP:{CODE12},{NUMBER}",
        f"发票 {CODE12}，{NUMBER}",
        f"查验{CODE12}-{NUMBER}",
        f"发票查验 {CODE12}#{NUMBER}",
        f"{CODE12} {NUMBER}",
        f"{CODE12},{NUMBER}",
        f"{CODE12}，{NUMBER}",
        f"{CODE12}-{NUMBER}",
        f"{CODE12}#{NUMBER}",
        f"{CODE12}+{NUMBER}",
        f"{CODE12}\n{NUMBER}",
        f"  {CODE12} \r\n {NUMBER}  ",
        f"{NUMBER} {CODE12}",
        "０４１００１９００１１１　１２３４５６７８",
    ],
)
def test_invoice_check_twelve_digit_code(text: str) -> None:
    assert classify(text) == InvoiceCheck(CODE12, NUMBER)


def test_invoice_check_ten_digit_code_and_digital_invoice() -> None:
    assert classify(f"FP {CODE10} {NUMBER}") == InvoiceCheck(CODE10, NUMBER)
    assert classify(f"{CODE10}，{NUMBER}") == InvoiceCheck(CODE10, NUMBER)
    assert classify("24442000000012345678") == InvoiceCheck("", "24442000000012345678")
    assert classify("FP 24442000000012345678") == InvoiceCheck("", "24442000000012345678")


@pytest.mark.parametrize(
    "text",
    ["FP", "fp ", "FP 123", f"FP {CODE12}", f"FP {CODE12} 1234567", "发票 12345", f"查验 {CODE12} {NUMBER} 99",
     "FP abc", f"04100190011-{NUMBER}", "0410019001112345678"],
)  # fmt: skip
def test_malformed_invoice_gets_help(text: str) -> None:
    assert classify(text) == InvoiceHelp()


@pytest.mark.parametrize(
    ("text", "reference"),
    [("CX 2026-000123", "2026-000123"), ("cx2026000123", "2026000123"), ("进度 ABC 123", "ABC123"),
     ("查询进度：ＳＬ２０２６００１", "SL2026001"), ("CX#A1234", "A1234")],
)  # fmt: skip
def test_status_query(text: str, reference: str) -> None:
    assert classify(text) == StatusQuery(reference)


def test_status_without_reference_gets_help() -> None:
    assert classify("CX") == StatusHelp()
    assert classify("进度") == StatusHelp()


@pytest.mark.parametrize(
    "text",
    ["我要举报某公司虚开发票", "投诉：办税大厅排队太久", "请问个税怎么申报？", "发票丢了怎么办", "进度怎么样了",
     "12345", "", "TDD", "KT吗", "谢谢", "查验码在哪里看"],
)  # fmt: skip
def test_free_text(text: str) -> None:
    assert classify(text) == FreeText(text.strip())


def test_free_text_keeps_the_original_text() -> None:
    assert classify("  请问ＫＴ是什么意思？ ") == FreeText("请问ＫＴ是什么意思？")


def test_normalise() -> None:
    assert normalise(" ｆｐ　０４１\n 12 ") == "FP 041 12"


def test_parse_invoice_numbers_refuses_letters_and_wrong_lengths() -> None:
    assert parse_invoice_numbers(f"{CODE12} {NUMBER}") == InvoiceCheck(CODE12, NUMBER)
    assert parse_invoice_numbers(f"{CODE12} A2345678") is None
    assert parse_invoice_numbers(f"{CODE12} {NUMBER} 1") is None
    assert parse_invoice_numbers("12345678901") is None
