"""Consent per taxpayer and phone on real Redis: the trail, the SMS opt-out that wins, staff overrides
(audited), bulk CSV import with bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.governance.audit import Action, AuditLog
from taxsms.queue.keys import Keys
from taxsms.replies.subscriptions import ConsentChange, How, SubscriptionBook, SubscriptionError, parse_flag

AT = 1_795_000_000.0
A, B = "91110000MA01234567", "91110000MA07654321"
PHONE = "13800138000"


async def test_consent_per_taxpayer_with_its_trail(redis: Redis, keys: Keys) -> None:
    book = SubscriptionBook(redis, keys)
    assert await book.state(PHONE) is None and await book.record(PHONE) is None
    await book.apply([ConsentChange("+86 138-0013-8000", None, How.IMPORT, AT, A, "i1", "2")])
    assert await book.state(PHONE) is None  # registered, never asked: the dispatcher's unknown policy applies
    assert await book.subscribe(PHONE, How.STAFF, AT + 1, B, ref="op-1", detail="form signed") == "set"
    assert await book.unsubscribe(PHONE, How.STAFF, AT + 2, A, ref="op-1", detail="asked") == "set"
    assert await book.state(PHONE) is True  # B is still subscribed on this phone
    assert await redis.hget(keys.subscription_state, PHONE) == b"1"  # what the dispatcher reads
    record = await book.record(PHONE)
    assert record is not None and record.taxpayers == {A: "0", B: "1"} and record.sms == "-"
    assert record.subscribed_for(B) and not record.subscribed_for(A)
    assert [(e.at, e.taxpayer_id, e.state, e.how, e.ref, e.detail) for e in record.trail] == [
        (AT, A, "?", "import", "i1", "2"),
        (AT + 1, B, "1", "staff", "op-1", "form signed"),
        (AT + 2, A, "0", "staff", "op-1", "asked"),
    ]


async def test_an_sms_opt_out_covers_every_taxpayer_and_wins(redis: Redis, keys: Keys) -> None:
    audit = AuditLog(redis, keys)
    book = SubscriptionBook(redis, keys, audit=audit)
    await book.apply([ConsentChange(PHONE, True, How.IMPORT, AT, A, "i1", "2"),
                      ConsentChange(PHONE, True, How.IMPORT, AT, B, "i1", "3")])  # fmt: skip
    await book.unsubscribe(PHONE, How.SMS, AT + 1, ref="1795000001000-0", detail="TD")
    record = await book.record(PHONE)
    assert record is not None and record.taxpayers == {A: "0", B: "0"} and record.sms == "T"
    assert await book.state(PHONE) is False
    # a later import and a staff change without override do not subscribe it again
    assert await book.apply([ConsentChange(PHONE, True, How.IMPORT, AT + 2, A, "i2", "9")]) == ["kept"]
    assert await book.subscribe(PHONE, How.STAFF, AT + 3, A, ref="op-1", detail="thinks so") == "refused"
    assert await book.state(PHONE) is False
    with pytest.raises(SubscriptionError, match="reason"):
        await book.apply([ConsentChange(PHONE, True, How.STAFF, AT + 4, A, "op-1", "", override=True)])
    assert [e async for e in audit.entries()] == []
    # an override with a reason wins, and is audited
    change = ConsentChange(PHONE, True, How.STAFF, AT + 5, A, "op-2", "taxpayer asked in person", override=True)
    assert await book.apply([change]) == ["set"]
    assert await book.state(PHONE) is True
    (entry,) = [e async for e in audit.entries()]
    assert (entry.actor, entry.action, entry.subject) == ("op-2", Action.CONSENT_OVERRIDE, "138****8000")
    assert entry.details["reason"] == "taxpayer asked in person"
    record = await book.record(PHONE)
    assert record is not None and record.taxpayers == {A: "1", B: "0"}
    assert [e.state for e in record.trail] == ["1", "1", "0", "k", "k", "1"]
    assert "by SMS TD (MO 1795000001000-0)" in record.trail[2].describe()


async def test_bad_phone_is_refused(redis: Redis, keys: Keys) -> None:
    book = SubscriptionBook(redis, keys)
    with pytest.raises(SubscriptionError):
        await book.subscribe("10086", How.STAFF, AT)
    with pytest.raises(SubscriptionError):
        await book.apply([ConsentChange(PHONE, True, How.STAFF, AT), ConsentChange("12345", True, How.STAFF, AT)])
    assert await redis.exists(keys.subscription_state) == 0  # nothing written when one phone is bad


def test_parse_flag() -> None:
    assert parse_flag(" Yes ") and parse_flag("1") and parse_flag("是") and parse_flag("TRUE")
    assert not parse_flag("0") and not parse_flag("no") and not parse_flag("否")
    with pytest.raises(ValueError):
        parse_flag("maybe")


async def test_import_with_bad_rows_records_file_and_row(redis: Redis, keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "subs.csv"
    path.write_text(
        "\ufeffphone,taxpayer_id,subscribed\n"
        f"13800138000,{A},1\n"
        "+86 139 0013 9000,,0\n"
        "10086,X,1\n"
        "\n"
        "13700137000,91110000MA00000001,maybe\n"
        "13600136000,91110000MA00000002\n"
        "13500135000,91110000MA00000003,yes\n",
        encoding="utf-8",
    )
    book = SubscriptionBook(redis, keys)
    result = await book.import_csv(path, operator="op-9", at=AT)
    assert (result.rows, result.subscribed, result.unsubscribed, result.failed) == (6, 2, 1, 3)
    assert [line for line, _ in result.errors] == [4, 6, 7]
    assert "10086" in result.errors[0][1]
    assert await redis.hgetall(keys.subscription_state) == {
        b"13800138000": b"1",
        b"13900139000": b"0",
        b"13500135000": b"1",
    }
    record = await book.record("13800138000")
    assert record is not None and record.taxpayers == {A: "1"}
    (entry,) = record.trail
    assert (entry.how, entry.detail) == ("import", "2")
    assert await book.import_info(entry.ref) == f"{path} (by op-9, 2026-11-18T19:06:40+08:00)"


async def test_import_is_chunked(redis: Redis, keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("".join(f"1380000{i:04d},9111{i:014d},{i % 2}\n" for i in range(10_000)), encoding="utf-8")
    calls = 0
    book = SubscriptionBook(redis, keys)
    original = book.apply

    async def counting(changes: list[ConsentChange]) -> list[str]:
        nonlocal calls
        calls += 1
        return await original(changes)

    book.apply = counting  # type: ignore[method-assign]
    result = await book.import_csv(path, at=AT, chunk=2000)
    assert result.rows == 10_000 and result.failed == 0
    assert calls == 5  # one pipeline per chunk, not per row
    assert await redis.hlen(keys.subscription_state) == 10_000
    assert await book.state("13800000001") is True and await book.state("13800000002") is False
