"""Abuse limits: the pure decision, and the per-phone counters on real Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from taxsms.queue.keys import Keys
from taxsms.replies.config import ReplyConfig
from taxsms.replies.limits import (
    Incoming,
    MoLimiter,
    Withheld,
    entry_score,
    looks_auto_reply,
    sender_mobile,
    similar,
    verdict,
)

CONFIG = ReplyConfig(rate_max=5, rate_window_s=60, burst_max=3, burst_window_s=10)
OUR_REPLY = "【12366】您的咨询已收到，受理编号T20261123-000042，我们将尽快答复。"


@pytest.mark.parametrize(
    ("sender", "phone"),
    [("13800138000", "13800138000"), ("+8613800138000", "13800138000"), ("8613800138000", "13800138000"),
     ("10086", None), ("106900001234", None), ("1069012345678", None), ("12366", None), ("", None),
     ("02112345678", None)],
)  # fmt: skip
def test_sender_mobile(sender: str, phone: str | None) -> None:
    assert sender_mobile(sender) == phone


@pytest.mark.parametrize(
    "text",
    ["【自动回复】您好，我现在不方便接听", "自动回复：稍后联系您", "Auto-Reply: I am away", "AUTO REPLY",
     "Out of office until Monday", "【某银行】您的账户于...", "您尾号1234的卡已入账【某银行】"],
)  # fmt: skip
def test_looks_auto_reply(text: str) -> None:
    assert looks_auto_reply(text)


@pytest.mark.parametrize("text", ["KT", "请问个税怎么申报", "我要投诉自动售票机", "FP 041001900111 12345678"])
def test_not_auto_reply(text: str) -> None:
    assert not looks_auto_reply(text)


def test_similar_ignores_signature_spacing_and_width() -> None:
    assert similar(OUR_REPLY, OUR_REPLY)
    assert similar("您的咨询已收到，受理编号T20261123-000042，我们将尽快答复", OUR_REPLY)
    assert similar("【12366】您的咨询已收到, 受理编号 Ｔ20261123-000043 我们将尽快答复!", OUR_REPLY)
    assert not similar("请问个税怎么申报", OUR_REPLY)
    assert not similar("", OUR_REPLY)


def test_verdict() -> None:
    assert verdict("KT", 1, 1, None, CONFIG) is None
    assert verdict("KT", 5, 3, OUR_REPLY, CONFIG) is None  # at the limits, not over them
    assert verdict("KT", 6, 1, None, CONFIG) is Withheld.RATE
    assert verdict("KT", 4, 4, None, CONFIG) is Withheld.BURST
    assert verdict(OUR_REPLY, 1, 1, OUR_REPLY, CONFIG) is Withheld.ECHO
    assert verdict("自动回复：我在开会", 1, 1, None, CONFIG) is Withheld.AUTO_REPLY


T0 = 1_795_000_000_000  # an MO stream entry id's milliseconds


def mo(sender: str, text: str, ms: int, seq: int = 0) -> Incoming:
    return Incoming(sender, text, f"{T0 + ms}-{seq}")


def test_entry_score_keeps_the_order() -> None:
    assert entry_score("1795000000123-4") == 1795000000123004
    assert entry_score("1795000000123-0") < entry_score("1795000000123-1") < entry_score("1795000000124-0")


async def test_rate_limit_per_phone(redis: Redis, keys: Keys) -> None:
    limiter = MoLimiter(redis, keys, ReplyConfig(rate_max=5, burst_max=100))
    verdicts = await limiter.check([mo("13800138000", f"问题{i}", i * 1000) for i in range(7)])
    assert verdicts == [None] * 5 + [Withheld.RATE] * 2
    assert await limiter.check([mo("13900139000", "问题", 0)]) == [None]  # another phone has its own count
    assert await redis.ttl(keys.mo_rate("13800138000")) > 0


async def test_rate_window_slides(redis: Redis, keys: Keys) -> None:
    limiter = MoLimiter(redis, keys, ReplyConfig(rate_max=2, rate_window_s=60, burst_max=100))
    times = [0, 1_000, 2_000, 61_500, 61_600]
    verdicts = await limiter.check([mo("13800138000", "q", ms) for ms in times])
    assert verdicts == [None, None, Withheld.RATE, None, Withheld.RATE]


async def test_counting_is_idempotent(redis: Redis, keys: Keys) -> None:
    limiter = MoLimiter(redis, keys, ReplyConfig(rate_max=2, burst_max=100))
    batch = [mo("13800138000", "q", 0, seq) for seq in range(3)]
    first = await limiter.check(batch)
    assert first == [None, None, Withheld.RATE]
    assert await limiter.check(batch) == first  # processed again after a crash: the same verdicts


async def test_burst_looks_like_a_loop(redis: Redis, keys: Keys) -> None:
    limiter = MoLimiter(redis, keys, ReplyConfig(rate_max=100, burst_max=3, burst_window_s=10))
    verdicts = await limiter.check([mo("+86 138 0013 8000", f"m{i}", i * 100) for i in range(5)])
    assert verdicts == [None, None, None, Withheld.BURST, Withheld.BURST]
    assert await limiter.check([mo("13800138000", "later", 30_000)]) == [None]


async def test_echo_of_our_last_reply(redis: Redis, keys: Keys) -> None:
    limiter = MoLimiter(redis, keys, CONFIG)
    async with redis.pipeline(transaction=False) as pipe:
        limiter.remember(pipe, {"13800138000": OUR_REPLY})
        await pipe.execute()
    assert await redis.get(keys.last_reply("13800138000")) == OUR_REPLY.encode()
    unsigned = OUR_REPLY.removeprefix("【12366】")
    verdicts = await limiter.check([mo("13800138000", unsigned, 0), mo("13900139000", unsigned, 0)])
    assert verdicts == [Withheld.ECHO, None]  # only the phone we answered with it is echoing


async def test_non_mobile_senders_are_not_counted(redis: Redis, keys: Keys) -> None:
    limiter = MoLimiter(redis, keys, CONFIG)
    verdicts = await limiter.check([mo("10086", "KT", 0), mo("1069012345678", "TD", 0)])
    assert verdicts == [Withheld.NOT_MOBILE, Withheld.NOT_MOBILE]
    assert await redis.keys(f"{{{keys.prefix}[}}:]*") == []  # neither control nor job keys
