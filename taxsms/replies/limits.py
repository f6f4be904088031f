"""Abuse limits on automatic replies: per-phone rate, auto-responder loops, senders that are not mobiles.

A message over a limit is still handled (an unsubscribe is always honoured, a ticket is still opened): only
the automatic reply is withheld. The decision is a pure function (`verdict`); `MoLimiter` fetches what it
needs from Redis for a whole batch in one round trip.

The per-phone count is a sliding window kept in a sorted set (`Keys.mo_rate(phone)`) of MO stream entry ids,
scored by the entry id (milliseconds * 1000 + sequence): counting a message is idempotent, so an MO
processed again after a crash is not counted twice, and a message counts only those before it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import StrEnum

from redis.asyncio import Redis

from taxsms.queue.jobs import JobError, normalise_mobile
from taxsms.queue.keys import Keys
from taxsms.replies.config import ReplyConfig

AUTO_REPLY_MARKERS = (
    "自动回复",
    "自動回覆",
    "系统自动发送",
    "请勿回复",
    "AUTO-REPLY",
    "AUTOREPLY",
    "AUTO REPLY",
    "AUTOMATIC REPLY",
    "OUT OF OFFICE",
)
_SIGNED = re.compile(r"^\s*【[^【】]{2,30}】|【[^【】]{2,30}】\s*$")
_SIGNATURES = re.compile(r"【[^【】]{0,30}】")
_NOISE = re.compile(r"[\W_]+")


class Withheld(StrEnum):
    """Why no automatic reply is sent."""

    NOT_MOBILE = "not_mobile"
    RATE = "rate_limited"
    BURST = "loop_burst"
    ECHO = "loop_echo"
    AUTO_REPLY = "auto_reply"


def sender_mobile(sender: str) -> str | None:
    """The sender's 11-digit mobile number, or None for short codes (10086), 106 service numbers etc."""
    try:
        return normalise_mobile(sender)
    except JobError:
        return None


def looks_auto_reply(text: str) -> bool:
    """Text another machine sent: an auto-reply marker, or a 【signature】 like a service number's messages."""
    flat = unicodedata.normalize("NFKC", text).upper()
    return any(marker in flat for marker in AUTO_REPLY_MARKERS) or bool(_SIGNED.search(flat))


def _comparable(text: str) -> str:
    return _NOISE.sub("", _SIGNATURES.sub("", unicodedata.normalize("NFKC", text))).lower()


def similar(text: str, reply: str, threshold: float = 0.9) -> bool:
    """True when `text` is our `reply` again, ignoring signatures, punctuation, spacing, case and width."""
    a, b = _comparable(text), _comparable(reply)
    if not a or not b:
        return False
    return a == b or SequenceMatcher(None, a, b, autojunk=False).ratio() >= threshold


def verdict(
    text: str, rate_count: int, burst_count: int, previous_reply: str | None, config: ReplyConfig
) -> Withheld | None:
    """Why the reply to `text` is withheld (None: reply), given the sender's counts in the current windows."""
    if previous_reply and similar(text, previous_reply, config.loop_similarity):
        return Withheld.ECHO
    if looks_auto_reply(text):
        return Withheld.AUTO_REPLY
    if burst_count > config.burst_max:
        return Withheld.BURST
    if rate_count > config.rate_max:
        return Withheld.RATE
    return None


@dataclass(frozen=True, slots=True)
class Incoming:
    """The parts of an MO message the limits look at; `entry_id` is its MO stream entry id ('<ms>-<seq>')."""

    sender: str
    text: str
    entry_id: str


def entry_score(entry_id: str) -> int:
    """A stream entry id as one exact integer in its order: '1795000000123-4' -> 1795000000123004."""
    ms, _, seq = entry_id.partition("-")
    return int(ms) * 1000 + min(int(seq or 0), 999)


class MoLimiter:
    """Counts MO messages per phone (fixed windows) and remembers the last reply, for `verdict`."""

    def __init__(self, redis: Redis, keys: Keys, config: ReplyConfig) -> None:
        self.redis = redis
        self.keys = keys
        self.config = config

    async def check(self, messages: Sequence[Incoming]) -> list[Withheld | None]:
        """Count each message in its sender's windows and decide, for the whole batch in one round trip."""
        phones = [sender_mobile(m.sender) for m in messages]
        config = self.config
        rate_span, burst_span = config.rate_window_s * 1_000_000, config.burst_window_s * 1_000_000
        async with self.redis.pipeline(transaction=False) as pipe:
            for message, phone in zip(messages, phones, strict=True):
                if phone is None:
                    continue
                key, score = self.keys.mo_rate(phone), entry_score(message.entry_id)
                pipe.zadd(key, {message.entry_id: score})
                pipe.zremrangebyscore(key, "-inf", f"({score - max(rate_span, burst_span)}")
                pipe.zcount(key, score - rate_span, score)
                pipe.zcount(key, score - burst_span, score)
                pipe.expire(key, max(config.rate_window_s, config.burst_window_s) + 60)
                pipe.get(self.keys.last_reply(phone))
            results = iter(await pipe.execute())
        verdicts: list[Withheld | None] = []
        for message, phone in zip(messages, phones, strict=True):
            if phone is None:
                verdicts.append(Withheld.NOT_MOBILE)
                continue
            _, _, rate, burst, _, previous = (next(results) for _ in range(6))
            text = previous.decode("utf-8", "replace") if previous else None
            verdicts.append(verdict(message.text, int(rate), int(burst), text, config))
        return verdicts

    def remember(self, pipe: object, replies: Mapping[str, str]) -> None:
        """Queue on `pipe` the last reply text sent to each phone (expires after last_reply_ttl_s)."""
        for phone, text in replies.items():
            pipe.set(self.keys.last_reply(phone), text, ex=self.config.last_reply_ttl_s)  # type: ignore[attr-defined]
