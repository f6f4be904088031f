"""What one bind is told (SessionConfig), what it counts (SessionStats), and the submits it carries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec

from taxsms.channels.events import MO_MAX_PENDING, MO_MAX_PENDING_BYTES
from taxsms.channels.smpp import status_name

BIND_REFUSED_RETRY_MIN_S = 60.0  # a bind refused for its credentials waits at least this long, doubling ...
BIND_REFUSED_RETRY_MAX_S = 900.0  # ... up to this: retrying at once would not help and may lock the account


@dataclass(slots=True)
class SessionConfig:
    """Where and how one bind connects."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    window: int = 64
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    reconnect_min: float = 0.1
    reconnect_max: float = 10.0
    bind_refused_retry_min: float = BIND_REFUSED_RETRY_MIN_S
    bind_refused_retry_max: float = BIND_REFUSED_RETRY_MAX_S
    throttle_pause_min: float = 0.02
    throttle_pause_max: float = 2.0
    mo_max_pending: int = MO_MAX_PENDING  # incomplete concatenated MO messages kept (events.MoAssembler)
    mo_max_pending_bytes: int = MO_MAX_PENDING_BYTES


@dataclass(slots=True)
class SessionStats:
    """Counters of one bind, for the worker's report and metrics."""

    connects: int = 0
    submitted: int = 0  # submit_sm written (including resends)
    accepted: int = 0
    rejected: int = 0
    throttled: int = 0
    resent_after_loss: int = 0  # possible duplicates: acceptance unknown when the link dropped
    timeouts: int = 0
    deliver_sm: int = 0
    protocol_errors: int = 0
    bind_refusals: int = 0
    mo_parts_dropped: int = 0  # parts of concatenated MO given up (never completed in time, or over the caps)


class SubmitResult(msgspec.Struct, frozen=True):
    """The SMSC's final answer to one submit_sm."""

    command_status: int
    message_id: str = ""
    latency: float = 0.0  # seconds from the first write to the final answer

    @property
    def ok(self) -> bool:
        return self.command_status == 0

    @property
    def error(self) -> str:
        return "" if self.ok else status_name(self.command_status)


class PendingSubmit(msgspec.Struct, eq=False):
    """A submit_sm waiting for a window slot or for its response. Its frame is encoded once."""

    frame: bytes
    future: asyncio.Future[SubmitResult]
    first_sent: float = 0.0
    sent_at: float = 0.0
    attempts: int = 0
    resent: bool = False
