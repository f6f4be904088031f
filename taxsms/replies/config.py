"""Settings of the reply service: who signs the replies, how the MO stream is read, the abuse limits."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

GROUP = "replies"


def _default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ReplyConfig:
    """One settings object for taxsms.replies (taxsms.settings builds it from the [replies] table).

    unit: the unit the service answers for (a registered unit: its SMS signature is the replies').
    rate_max per rate_window_s: MO messages per phone answered automatically (more are stored, not answered).
    burst_max per burst_window_s: more than this in the short span looks like an auto-responder loop.
    Both windows slide, measured by the MO stream entry ids (the time Redis received each message).
    """

    unit: str = "12366"
    group: str = GROUP
    consumer: str = field(default_factory=_default_consumer)
    batch: int = 100
    block_ms: int = 1000
    claim_idle_s: float = 60.0
    rate_max: int = 5
    rate_window_s: int = 60
    burst_max: int = 3
    burst_window_s: int = 10
    last_reply_ttl_s: int = 24 * 3600
    loop_similarity: float = 0.9
    retry_s: float = 1.0

    def __post_init__(self) -> None:
        if self.rate_max < 1 or self.burst_max < 1 or self.batch < 1:
            raise ValueError("rate_max, burst_max and batch must be at least 1")
