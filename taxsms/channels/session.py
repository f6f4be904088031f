"""One SMPP transceiver bind over asyncio: a thin shell around the sans-I/O Connection (smpp/connection.py).

The session binds, keeps the link alive with enquire_link and reconnects when it is lost (the waits and the
refusal log: rebind.py). Its submit side (the window over the shared queue) is window.py, its deliver_sm side
inbound.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from taxsms.channels import smpp
from taxsms.channels.inbound import EventSink, Inbound
from taxsms.channels.link import SmppLink
from taxsms.channels.rebind import BindError, Rebinding
from taxsms.channels.smpp import BindState, Response
from taxsms.channels.submits import PendingSubmit, SessionConfig, SessionStats, SubmitResult
from taxsms.channels.window import SubmitWindow

__all__ = ["BindError", "EventSink", "PendingSubmit", "SessionConfig", "SessionStats", "SmppSession", "SubmitResult"]
log = logging.getLogger(__name__)
_BOUND_TRX = BindState.BOUND_TRX


class SmppSession:
    """One bind_transceiver to an SMSC, fed from a submit queue shared with the other binds."""

    def __init__(
        self,
        config: SessionConfig,
        queue: deque[PendingSubmit],
        on_event: EventSink,
        *,
        wake: Callable[[], None] | None = None,
        on_room: Callable[[], None] | None = None,
        name: str = "bind",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        cfg = self.config = config
        self.name, self.stats, self.bound_event = name, SessionStats(), asyncio.Event()
        self._wake, self._clock = wake or self.pump, clock
        self._on_room = on_room or (lambda: None)  # a window slot freed, a bind came up, a pause ended
        self._inbound = Inbound(config, on_event, self.stats, name)
        self._link: SmppLink | None = None
        self._lost, self._closing, self._task = asyncio.Event(), False, None
        self._rebinding = Rebinding(cfg, name)
        self._window = SubmitWindow(config, queue, self.stats, clock)

    @property
    def bound(self) -> bool:
        return self._link is not None and self._link.connection.state is _BOUND_TRX

    @property
    def in_flight(self) -> int:
        return 0 if self._link is None else self._link.connection.in_flight

    @property
    def room(self) -> int:
        """Submits this bind would write now (bound, not paused, window slots free)."""
        link = self._link
        if link is None or link.connection.state is not _BOUND_TRX or self._closing:
            return 0
        return self._window.room(link)

    def start(self) -> None:
        """Connect and keep connected in the background until close()."""
        self._task = asyncio.create_task(self._run(), name=f"smpp-{self.name}")

    async def close(self, drain_timeout: float = 5.0) -> None:
        """Wait up to `drain_timeout` for outstanding submits, unbind and disconnect."""
        self._closing, deadline = True, self._clock() + drain_timeout
        while self.in_flight and self.bound and self._clock() < deadline:
            await asyncio.sleep(0.01)
        if self.bound:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(self._request(smpp.Unbind(sequence_number=0)), 1.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def pump(self) -> None:
        """Send queued submits while this bind has window room and is not paused by throttling."""
        link = self._link
        if link is not None and link.connection.state is _BOUND_TRX and not self._closing:
            self._window.pump(link, self._resume)

    def _resume(self) -> None:
        """A throttling pause is over: send again, and say there is room."""
        self.pump()
        self._on_room()

    async def _run(self) -> None:
        cfg, rebinding = self.config, self._rebinding
        while not self._closing:
            rebinding.lost()
            try:
                await self._connect_and_bind()
                await self._serve()
            except BindError as exc:
                self.stats.bind_refusals += 1
                rebinding.refused(exc)
            except (OSError, TimeoutError, ConnectionError) as exc:
                log.warning("%s: SMPP link to %s:%s down: %s", self.name, cfg.host, cfg.port, exc)
            finally:
                self._drop()
            if not self._closing:
                await rebinding.next.wait()

    async def _connect_and_bind(self) -> None:
        cfg = self.config
        link = self._link = SmppLink(smpp.Role.ESME, self._handle, self._link_lost, self._broken)
        self._lost = asyncio.Event()
        connect = asyncio.get_running_loop().create_connection(lambda: link, cfg.host, cfg.port)
        await asyncio.wait_for(connect, cfg.response_timeout)
        self.stats.connects += 1
        bind = smpp.BindTransceiver(sequence_number=0, system_id=cfg.system_id, password=cfg.password,
                                    system_type=cfg.system_type)  # fmt: skip
        resp = await asyncio.wait_for(self._request(bind), cfg.response_timeout)
        if not self.bound:  # refused, or answered by generic_nack
            raise BindError(resp.command_status or smpp.CommandStatus.ESME_RBINDFAIL)
        self.bound_event.set()
        again = self._rebinding.bound()
        log.info("%s: bound to %s:%s as %s%s", self.name, cfg.host, cfg.port, cfg.system_id, again)
        self.pump()
        self._on_room()

    async def _serve(self) -> None:
        """Watch timeouts and keep the link alive until the connection is lost."""
        cfg, link = self.config, self._link
        tick, last_heard = min(0.5, cfg.response_timeout / 4, cfg.enquire_link_interval / 4), self._clock()
        while link is not None and not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), tick)
                return
            now = self._clock()
            last_heard, link.heard = (now if link.heard else last_heard), False
            expired = self._window.expire(link, now)
            if expired >= max(1, cfg.window // 2):
                log.warning("%s: %d submits timed out, reconnecting", self.name, expired)
                return
            if expired:
                self._wake()
            if now - last_heard >= cfg.enquire_link_interval:
                try:
                    await asyncio.wait_for(self._request(smpp.EnquireLink(sequence_number=0)), cfg.response_timeout)
                except TimeoutError:
                    log.warning("%s: enquire_link unanswered, reconnecting", self.name)
                    return

    def _drop(self) -> None:
        if self._link is not None:
            self._link.abort()
            self._link_lost(self._link, self._link.connection.close())

    def _link_lost(self, link: SmppLink, unanswered: list[Any]) -> None:
        for future in unanswered:
            if isinstance(future, asyncio.Future) and not future.done():
                future.set_exception(ConnectionError("SMPP connection lost"))
        self._window.lost(unanswered)
        if link is self._link:
            self._lost.set()
            self.bound_event.clear()
            self._wake()  # the other binds take over what this one had in flight

    def _broken(self, error: smpp.RemoteProtocolError) -> None:
        self.stats.protocol_errors += 1
        log.warning("%s: unrecoverable framing from the SMSC (%s), reconnecting", self.name, error)

    def _handle(self, event: object) -> None:
        if isinstance(event, Response):
            context = event.context
            if isinstance(context, PendingSubmit):
                self._window.answered(context, event.pdu)
                self.pump()
                self._on_room()
            elif not context.done():  # a control request's future (bind, enquire_link, unbind)
                context.set_result(event.pdu)
        elif isinstance(event, smpp.DeliverSm):
            self._inbound.deliver(self._link, event)  # type: ignore[arg-type]
        elif isinstance(event, smpp.Unbind):  # already answered by the connection: hang up
            self._link.hang_up()  # type: ignore[union-attr]
        else:  # Refused: what an SMSC should not send, already answered
            self.stats.protocol_errors += 1
            log.warning("%s: refused from the SMSC: %s", self.name, getattr(event, "reason", event))

    async def _request(self, pdu: smpp.PduBase) -> Any:
        if self._link is None:
            raise ConnectionError("not connected")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._link.send(pdu, future)
        return await future
