"""The subscription book on real Redis, including bulk CSV import with bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.queue.keys import Keys
from taxsms.replies.subscriptions import SubscriptionBook, SubscriptionError, SubscriptionRecord, parse_flag

AT = 1_795_000_000.0


async def test_subscribe_unsubscribe_and_state(redis: Redis, keys: Keys) -> None:
    book = SubscriptionBook(redis, keys)
    assert await book.state("13800138000") is None
    assert await book.record("13800138000") is None
    assert await book.subscribe("+86 138-0013-8000", "sms", AT, ["91110000MA01234567"]) == "13800138000"
    assert await book.state("13800138000") is True
    assert await redis.hget(keys.subscription_state, "13800138000") == b"1"  # what the dispatcher reads
    await book.unsubscribe("8613800138000", "sms", AT + 1, ["91110000MA07654321"])
    assert await book.state("+8613800138000") is False
    assert await redis.hget(keys.subscription_state, "13800138000") == b"0"
    assert await book.record("13800138000") == SubscriptionRecord(
        "13800138000", False, "sms", AT + 1, ("91110000MA01234567", "91110000MA07654321")
    )


async def test_bad_phone_is_refused(redis: Redis, keys: Keys) -> None:
    book = SubscriptionBook(redis, keys)
    with pytest.raises(SubscriptionError):
        await book.subscribe("10086", "staff", AT)
    with pytest.raises(SubscriptionError):
        await book.apply([("13800138000", True, "staff", AT, ()), ("12345", True, "staff", AT, ())])
    assert await redis.exists(keys.subscription_state) == 0  # nothing written when one phone is bad


def test_parse_flag() -> None:
    assert parse_flag(" Yes ") and parse_flag("1") and parse_flag("是") and parse_flag("TRUE")
    assert not parse_flag("0") and not parse_flag("no") and not parse_flag("否")
    with pytest.raises(ValueError):
        parse_flag("maybe")


async def test_import_with_bad_rows(redis: Redis, keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "subs.csv"
    path.write_text(
        "\ufeffphone,taxpayer_id,subscribed,source\n"
        "13800138000,91110000MA01234567,1,tax-system\n"
        "+86 139 0013 9000,,0\n"
        "10086,X,1\n"
        "\n"
        "13700137000,91110000MA00000001,maybe\n"
        "13600136000,91110000MA00000002\n"
        "13500135000,91110000MA00000003,yes\n",
        encoding="utf-8",
    )
    book = SubscriptionBook(redis, keys)
    result = await book.import_csv(path, at=AT)
    assert (result.rows, result.subscribed, result.unsubscribed, result.failed) == (6, 2, 1, 3)
    assert [line for line, _ in result.errors] == [4, 6, 7]
    assert "10086" in result.errors[0][1]
    assert await redis.hgetall(keys.subscription_state) == {
        b"13800138000": b"1",
        b"13900139000": b"0",
        b"13500135000": b"1",
    }
    record = await book.record("13800138000")
    assert record == SubscriptionRecord("13800138000", True, "tax-system", AT, ("91110000MA01234567",))
    assert (await book.record("13900139000")).source == "import"  # type: ignore[union-attr]


async def test_import_keeps_what_the_taxpayer_chose_by_sms(redis: Redis, keys: Keys) -> None:
    book = SubscriptionBook(redis, keys)
    await book.unsubscribe("13800138000", "sms", AT)
    lines = ["13800138000,91110000MA01234567,1", "13900139000,,1"]
    result = await book.import_csv(lines, at=AT + 10)
    assert result.kept == 1
    assert await book.state("13800138000") is False
    record = await book.record("13800138000")
    assert record is not None and record.taxpayer_ids == ("91110000MA01234567",) and record.source == "sms"
    result = await book.import_csv(lines, at=AT + 20, override_sms=True)
    assert result.kept == 0 and await book.state("13800138000") is True


async def test_import_is_chunked_and_fast(redis: Redis, keys: Keys) -> None:
    rows = [f"1380000{i:04d},9111{i:014d},{i % 2}" for i in range(10_000)]
    calls = 0
    book = SubscriptionBook(redis, keys)
    original = book._import_chunk

    async def counting(*args: object) -> int:
        nonlocal calls
        calls += 1
        return await original(*args)  # type: ignore[arg-type]

    book._import_chunk = counting  # type: ignore[method-assign]
    result = await book.import_csv(rows, at=AT, chunk=2000)
    assert result.rows == 10_000 and result.failed == 0
    assert calls == 5  # one round trip per chunk, not per row
    assert await redis.hlen(keys.subscription_state) == 10_000
    assert await book.state("13800000001") is True and await book.state("13800000002") is False
