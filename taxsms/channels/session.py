"""One SMPP transceiver bind over asyncio: a thin I/O shell around the sans-I/O codec.

The session binds, keeps up to `window` submit_sm outstanding (correlated by sequence number), answers
every deliver_sm, keeps the link alive with enquire_link, and on any loss of the connection puts what was
never acknowledged back at the head of the shared submit queue and reconnects with back-off and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from taxsms.channels.events import MoAssembler, MoMessage
from taxsms.channels.smpp import (
    BindTransceiver,
    BindTransceiverResp,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    FramingError,
    GenericNack,
    InvalidPduError,
    PduReader,
    Receipt,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    encode,
    error_response,
    status_name,
)

log = logging.getLogger(__name__)

#: Statuses that mean "not now": the submit is retried on this link after a pause, never failed.
RETRY_LATER = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
#: deliver_sm_resp status asking the SMSC to deliver again later (our sink could not store it).
ESME_RX_T_APPN = 0x64
_SEQ = struct.Struct(">I")

EventSink = Callable[[Receipt | MoMessage], Awaitable[None] | None]


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
    throttle_pause_min: float = 0.02
    throttle_pause_max: float = 2.0


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


@dataclass(frozen=True, slots=True)
class SubmitResult:
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


@dataclass(slots=True, eq=False)
class PendingSubmit:
    """A submit_sm waiting for a window slot or for its response. Its frame is encoded once."""

    frame: bytearray
    future: asyncio.Future[SubmitResult]
    first_sent: float = 0.0
    sent_at: float = 0.0
    attempts: int = 0
    resent: bool = field(default=False)


class SmppSession(asyncio.Protocol):
    """One bind_transceiver to an SMSC, fed from a submit queue shared with the other binds."""

    def __init__(
        self,
        config: SessionConfig,
        queue: deque[PendingSubmit],
        on_event: EventSink,
        *,
        wake: Callable[[], None] | None = None,
        name: str = "bind",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.name = name
        self.stats = SessionStats()
        self._queue = queue
        self._on_event = on_event
        self._wake = wake or self.pump
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._assembler = MoAssembler()
        self._transport: asyncio.Transport | None = None
        self._reader = PduReader()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._outstanding: dict[int, PendingSubmit] = {}
        self._control: dict[int, asyncio.Future[object]] = {}
        self._seq = 0
        self._bound = False
        self._lost: asyncio.Event = asyncio.Event()
        self._closing = False
        self._paused_until = 0.0
        self._pause = config.throttle_pause_min
        self._resume_handle: asyncio.TimerHandle | None = None
        self._last_heard = 0.0
        self._task: asyncio.Task[None] | None = None
        self.bound_event = asyncio.Event()

    # -- public surface -------------------------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self._bound

    @property
    def in_flight(self) -> int:
        return len(self._outstanding)

    def start(self) -> None:
        """Connect and keep connected in the background until close()."""
        self._task = asyncio.create_task(self._run(), name=f"smpp-{self.name}")

    async def close(self, drain_timeout: float = 5.0) -> None:
        """Wait up to `drain_timeout` for outstanding submits, unbind and disconnect."""
        self._closing = True
        deadline = self._clock() + drain_timeout
        while self._outstanding and self._bound and self._clock() < deadline:
            await asyncio.sleep(0.01)
        if self._bound and self._transport is not None:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(self._request(Unbind(sequence_number=self._next_seq())), 1.0)
        if self._transport is not None:
            self._transport.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._requeue_outstanding()

    def pump(self) -> None:
        """Send queued submits while this bind has window room and is not paused by throttling."""
        if not self._bound or self._closing:
            return
        queue, outstanding, window = self._queue, self._outstanding, self.config.window
        if not queue or len(outstanding) >= window:
            return
        now = self._clock()
        if now < self._paused_until:
            if self._resume_handle is None:
                self._resume_handle = self._loop.call_later(self._paused_until - now, self._resume)
            return
        while queue and len(outstanding) < window:
            item = queue.popleft()
            if item.future.done():  # cancelled by its owner while it waited
                continue
            seq = self._next_seq()
            _SEQ.pack_into(item.frame, 12, seq)
            if not item.attempts:
                item.first_sent = now
            item.attempts += 1
            item.sent_at = now
            outstanding[seq] = item
            self.stats.submitted += 1
            self._write(bytes(item.frame))

    # -- connection lifecycle -------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.config.reconnect_min
        while not self._closing:
            try:
                await self._connect_and_bind()
                delay = self.config.reconnect_min
                await self._serve()
            except (OSError, TimeoutError, ConnectionError, BindError) as exc:
                log.warning("%s: SMPP link down: %s", self.name, exc)
            finally:
                self._drop()
            if self._closing:
                break
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.config.reconnect_max)

    async def _connect_and_bind(self) -> None:
        cfg = self.config
        self._reader = PduReader()
        self._lost = asyncio.Event()
        await asyncio.wait_for(self._loop.create_connection(lambda: self, cfg.host, cfg.port), cfg.response_timeout)
        self.stats.connects += 1
        bind = BindTransceiver(
            sequence_number=self._next_seq(),
            system_id=cfg.system_id,
            password=cfg.password,
            system_type=cfg.system_type,
        )
        resp = await asyncio.wait_for(self._request(bind), cfg.response_timeout)
        if not isinstance(resp, BindTransceiverResp) or resp.command_status != 0:
            raise BindError(f"bind refused: {status_name(resp.command_status)}")
        self._bound = True
        self._last_heard = self._clock()
        self.bound_event.set()
        log.info("%s: bound to %s:%s as %s", self.name, cfg.host, cfg.port, cfg.system_id)
        self.pump()

    async def _serve(self) -> None:
        """Watch timeouts and keep the link alive until the connection is lost."""
        cfg = self.config
        tick = min(0.5, cfg.response_timeout / 4, cfg.enquire_link_interval / 4)
        while not self._lost.is_set():
            try:
                await asyncio.wait_for(self._lost.wait(), tick)
                return
            except TimeoutError:
                pass
            now = self._clock()
            self._expire_outstanding(now)
            if now - self._last_heard >= cfg.enquire_link_interval:
                try:
                    await asyncio.wait_for(
                        self._request(EnquireLink(sequence_number=self._next_seq())), cfg.response_timeout
                    )
                except TimeoutError:
                    log.warning("%s: enquire_link unanswered, reconnecting", self.name)
                    return

    def _expire_outstanding(self, now: float) -> None:
        """Submits without a response in time are resent: their fate is unknown (possible duplicate)."""
        limit = now - self.config.response_timeout
        expired = [seq for seq, item in self._outstanding.items() if item.sent_at < limit]
        if not expired:
            return
        self.stats.timeouts += len(expired)
        for seq in reversed(expired):
            item = self._outstanding.pop(seq)
            item.resent = True
            self._queue.appendleft(item)
        if len(expired) >= self.config.window // 2 and self._transport is not None:
            log.warning("%s: %d submits timed out, reconnecting", self.name, len(expired))
            self._transport.abort()
        else:
            self._wake()

    def _drop(self) -> None:
        was_bound = self._bound
        self._bound = False
        self.bound_event.clear()
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        for fut in self._control.values():
            if not fut.done():
                fut.set_exception(ConnectionError("SMPP connection lost"))
        self._control.clear()
        self._requeue_outstanding()
        if was_bound:
            self._wake()  # the other binds take over what this one had in flight

    def _requeue_outstanding(self) -> None:
        if not self._outstanding:
            return
        items = list(self._outstanding.values())
        self._outstanding.clear()
        self.stats.resent_after_loss += len(items)
        for item in reversed(items):
            item.resent = True
            self._queue.appendleft(item)

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._bound = False
        self._lost.set()

    def data_received(self, data: bytes) -> None:
        self._last_heard = self._clock()
        broken: FramingError | None = None
        try:
            pdus = self._reader.feed(data)
        except FramingError as exc:
            broken, pdus = exc, exc.pdus  # the PDUs before the garbage are still good: handle them first
        for pdu in pdus:
            try:
                self._handle(pdu)
            except Exception:  # a handler bug must not kill the link
                self.stats.protocol_errors += 1
                log.exception("%s: error handling %r", self.name, pdu)
        if broken is not None:
            self.stats.protocol_errors += 1
            log.warning("%s: unrecoverable framing from SMSC (%s), reconnecting", self.name, broken)
            self._write(encode(GenericNack(sequence_number=0, command_status=CommandStatus.ESME_RINVCMDLEN)))
            self._flush()
            if self._transport is not None:
                self._transport.abort()

    # -- PDU handling -----------------------------------------------------------------------------------

    def _handle(self, pdu: object) -> None:
        if isinstance(pdu, SubmitSmResp):
            self._on_submit_resp(pdu.sequence_number, pdu.command_status, pdu.message_id)
        elif isinstance(pdu, DeliverSm):
            self._on_deliver(pdu)
        elif isinstance(pdu, EnquireLink):
            self._write(encode(EnquireLinkResp(sequence_number=pdu.sequence_number)))
        elif isinstance(pdu, GenericNack) and pdu.sequence_number in self._outstanding:
            self._on_submit_resp(pdu.sequence_number, pdu.command_status or CommandStatus.ESME_RSYSERR, "")
        elif isinstance(pdu, Unbind):
            self._write(encode(UnbindResp(sequence_number=pdu.sequence_number)))
            self._flush()
            if self._transport is not None:
                self._transport.close()
        elif isinstance(pdu, InvalidPduError):
            self.stats.protocol_errors += 1
            log.warning("%s: invalid PDU from SMSC: %s", self.name, pdu.reason)
            self._write(encode(error_response(pdu)))
        else:
            fut = self._control.pop(getattr(pdu, "sequence_number", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(pdu)

    def _on_submit_resp(self, seq: int, status: int, message_id: str) -> None:
        item = self._outstanding.pop(seq, None)
        if item is None:
            return  # a late answer to a submit we already resent
        if status in RETRY_LATER:
            self.stats.throttled += 1
            if item.sent_at >= self._paused_until:
                self._pause = min(self._pause * 2, self.config.throttle_pause_max)
            self._paused_until = self._clock() + self._pause
            self._queue.appendleft(item)
            self.pump()
            return
        self._pause = self.config.throttle_pause_min
        if status == 0:
            self.stats.accepted += 1
        else:
            self.stats.rejected += 1
        if not item.future.done():
            latency = self._clock() - item.first_sent
            item.future.set_result(SubmitResult(status, message_id, latency))
        self.pump()

    def _on_deliver(self, pdu: DeliverSm) -> None:
        self.stats.deliver_sm += 1
        seq = pdu.sequence_number
        try:
            event = self._assembler.classify(pdu)
        except ValueError as exc:
            log.warning("%s: unreadable deliver_sm (%s); acknowledged and dropped", self.name, exc)
            self.stats.protocol_errors += 1
            event = None
        if event is None:
            self._write(encode(DeliverSmResp(sequence_number=seq)))
            return
        stored = self._on_event(event)
        if stored is None:
            self._write(encode(DeliverSmResp(sequence_number=seq)))
            return
        future = asyncio.ensure_future(stored)
        future.add_done_callback(lambda f: self._answer_deliver(seq, f))

    def _answer_deliver(self, seq: int, stored: asyncio.Future[None]) -> None:
        """Acknowledge a deliver_sm once its event is stored; if storing failed the SMSC retries later."""
        failed = stored.cancelled() or stored.exception() is not None
        status = ESME_RX_T_APPN if failed else 0
        if self._transport is not None:
            self._write(encode(DeliverSmResp(sequence_number=seq, command_status=status)))

    # -- writing ------------------------------------------------------------------------------------------

    async def _request(self, pdu: object) -> object:
        fut: asyncio.Future[object] = self._loop.create_future()
        self._control[pdu.sequence_number] = fut  # type: ignore[attr-defined]
        self._write(encode(pdu))  # type: ignore[arg-type]
        return await fut

    def _next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < 0x7FFFFFFF else 1
        return self._seq

    def _write(self, data: bytes) -> None:
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _resume(self) -> None:
        self._resume_handle = None
        self.pump()


class BindError(ConnectionError):
    """The SMSC refused our bind."""
