"""Masking phone numbers and names for logs and screens."""

from __future__ import annotations

import logging

import pytest

from taxsms.privacy import PhoneMaskingFilter, mask_name, mask_phone, mask_text


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13800138000", "138****8000"),
        ("+8613800138000", "138****8000"),
        ("+86 138-0013-8000", "138****8000"),
        ("8613800138000", "138****8000"),
        ("008613800138000", "138****8000"),
        ("010-12345678", "*******5678"),  # not a mobile: only the last four shown
        ("123", "***"),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


@pytest.mark.parametrize(("name", "masked"), [("张三", "张*"), ("欧阳娜娜", "欧***"), ("李", "*"), ("", "")])
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_text_masks_mobiles_but_not_other_numbers() -> None:
    text = "来电13800138000，回拨+86 139 1234 5678；身份证110101199003078515，发票代码144031900110，金额13800.00元"
    assert mask_text(text) == (
        "来电138****8000，回拨+86 139****5678；身份证110101199003078515，发票代码144031900110，金额13800.00元"
    )


def test_log_filter_masks_message_args_and_exception(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("taxsms.test.privacy")
    caplog.handler.addFilter(PhoneMaskingFilter())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("sent to %s (%d parts)", "13800138000", 2)
        logger.info("raw %s", 13912345678)
        try:
            raise ValueError("bad number 13700001111")
        except ValueError:
            logger.exception("failed for %s", "+8613600002222")
    text = caplog.text
    for number in ("13800138000", "13912345678", "13700001111", "13600002222"):
        assert number not in text
    assert "sent to 138****8000 (2 parts)" in text
    assert "raw 139****5678" in text
    assert "bad number 137****1111" in text
