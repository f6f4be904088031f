"""An SMSC simulator: a real SMPP 3.4 server over TCP for tests, benchmarks and the demo.

A thin asyncio shell: each client is an SmppLink over Connection(Role.SMSC), which holds the protocol. What
this SMSC decides (binds, submit_sm answers and latency, TPS limit, receipts, duplicates, concatenation) is
in smsc/policy.py, where its deliver_sm go (never dropped) in smsc/delivery.py, its knobs in smsc/config.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from taxsms.channels import smpp
from taxsms.channels.link import SmppLink
from taxsms.channels.smpp import BindState, Refused, Response, SubmitSm, SubmitSmResp
from taxsms.channels.smpp.state import BOUND
from taxsms.channels.smsc.config import SimulatorConfig, SimulatorStats
from taxsms.channels.smsc.delivery import DeliveryRouter, Outgoing
from taxsms.channels.smsc.frames import mo_frames
from taxsms.channels.smsc.policy import ReceiptDue, SmscPolicy
from taxsms.channels.smsc.timers import MillisecondTimers

_RECEIVING = frozenset({BindState.BOUND_RX, BindState.BOUND_TRX})


class _Client(SmppLink):
    """One ESME connected to the simulator."""

    def __init__(self, smsc: SmscSimulator) -> None:
        super().__init__(smpp.Role.SMSC, self._dispatch, smsc._client_lost, self._broken)
        self.smsc = smsc
        self.in_flight = 0  # submit_sm awaiting their delayed resp
        smsc._clients.add(self)

    @property
    def receiving(self) -> bool:
        return self.connection.state in _RECEIVING and self.open

    def _dispatch(self, event: object) -> None:
        self.smsc._handlers[type(event)](self, event)

    def _broken(self, error: smpp.RemoteProtocolError) -> None:
        self.smsc._policy.count_refused(None, error.status)

    def deliver(self, outgoing: Outgoing) -> None:
        self.send(outgoing[0], outgoing)


class SmscSimulator:
    """The simulated SMSC. Use `async with SmscSimulator(config) as sim:` or start()/stop()."""

    def __init__(self, config: SimulatorConfig | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or SimulatorConfig()
        self.port = self.config.port
        self._policy = SmscPolicy(self.config, clock)
        self.accepted_log = self._policy.accepted_log  # (clock, destination_addr, text) with config.keep_accepted
        self._router = DeliveryRouter()
        self._timers: MillisecondTimers = None  # type: ignore[assignment]  # set by start()
        self._server: asyncio.Server | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._clients: set[_Client] = set()
        self._mo_ref = 0
        binds = (smpp.BindTransmitter, smpp.BindReceiver, smpp.BindTransceiver)
        self._handlers: dict[type, Callable[[_Client, Any], None]] = {
            SubmitSm: self._on_submit, Response: self._on_response, smpp.Unbind: lambda client, _: client.hang_up(),
            Refused: lambda _, refused: self._policy.count_refused(refused.pdu, refused.status),
            **dict.fromkeys(binds, self._on_bind),
        }  # fmt: skip

    @property
    def stats(self) -> SimulatorStats:
        return self._policy.stats

    def reset_stats(self) -> None:
        """Zero the counters and forget the messages seen (duplicates, concatenation)."""
        self._policy.reset()

    async def start(self) -> None:
        """Listen; `port` then holds the bound port."""
        loop = asyncio.get_running_loop()
        self._timers = MillisecondTimers(loop)
        self._server = await loop.create_server(lambda: _Client(self), self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._keepalive = asyncio.create_task(self._keepalive_loop())

    async def stop(self) -> None:
        """Close the server and every connection; pending responses and receipts are forgotten."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
            self._timers.cancel_all()
        if self._server is not None:
            self._server.close()
            for client in list(self._clients):
                client.abort()
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let connection_lost run

    async def __aenter__(self) -> SmscSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def drop_connections(self) -> int:
        """Abort every client connection now, without unbind (unacknowledged deliver_sm are sent again later)."""
        clients = [client for client in self._clients if client.open]
        for client in clients:
            client.abort()
            self._router.remove(client)
        self.stats.connections_dropped += len(clients)
        return len(clients)

    async def inject_mo(self, source: str, destination: str, text: str) -> None:
        """A taxpayer's message as deliver_sm, all parts to one receiver (round robin); RuntimeError if none."""
        client = self._router.next()
        if client is None:
            raise RuntimeError("no receiver or transceiver is bound to the simulator")
        self._mo_ref = (self._mo_ref + 1) & 0xFF
        for frame in mo_frames(source, destination, text, self._mo_ref):
            client.deliver((frame, False))
            self.stats.mo_sent += 1

    def _on_bind(self, client: _Client, pdu: Any) -> None:
        status = self._policy.bind_status(pdu)
        fields = {"system_id": "taxsms-sim", "sc_interface_version": 0x34} if status == 0 else {}
        client.send(smpp.response_for(pdu, command_status=status, **fields))
        if client.receiving:
            self._router.add(client)

    def _on_submit(self, client: _Client, pdu: SubmitSm) -> None:
        resp, delay, receipt = self._policy.answer(pdu)
        stats = self.stats
        stats.max_in_flight_per_bind = max(stats.max_in_flight_per_bind, client.in_flight + 1)
        if delay > 0:
            client.in_flight += 1
            self._timers.schedule(delay, self._answer, client, resp)
        else:
            client.send(resp)
        if receipt is not None:
            self._timers.schedule(delay + self.config.dlr_ms / 1000, self._receipt_due, client, receipt)

    def _on_response(self, client: _Client, event: Response) -> None:
        outgoing: Outgoing | None = event.context  # our deliver_sm answered (None: our enquire_link)
        if outgoing is None:
            return
        if event.pdu.command_status:  # the ESME could not take it now: like a real SMSC, try again later
            self._timers.schedule(self.config.redeliver_ms / 1000, self._redeliver, None, outgoing)
        elif outgoing[1]:
            self.stats.receipts_acked += 1
        else:
            self.stats.mo_acked += 1

    def _answer(self, client: _Client, resp: SubmitSmResp) -> None:
        client.in_flight -= 1
        if client.open:
            client.send(resp)

    def _receipt_due(self, client: _Client, due: ReceiptDue) -> None:
        self._router.deliver((self._policy.receipt(due), True), client)

    def _redeliver(self, _: None, outgoing: Outgoing) -> None:
        self.stats.redeliveries += 1
        self._router.deliver(outgoing)

    def _client_lost(self, client: Any, contexts: list[Any]) -> None:
        self._clients.discard(client)
        self._router.remove(client)
        unacked = [outgoing for outgoing in contexts if outgoing is not None]  # our enquire_link has none
        self.stats.redeliveries += len(unacked)
        for outgoing in unacked:
            self._router.deliver(outgoing)

    async def _keepalive_loop(self) -> None:
        """Our own enquire_link to every bind, once a period; a bind silent for two periods is aborted."""
        while True:
            await asyncio.sleep(self.config.enquire_link_s or 1.0)
            bound = [c for c in self._clients if c.connection.state in BOUND and c.open]
            if self.config.enquire_link_s:
                self.stats.links_timed_out += sum(not client.keepalive() for client in bound)


async def serve(config: SimulatorConfig) -> None:
    """Run a simulator until cancelled, printing its counters every 5 seconds (`taxsms simulator`)."""
    async with SmscSimulator(config) as sim:
        print(f"SMSC simulator listening on {config.host}:{sim.port}", flush=True)
        while True:
            await asyncio.sleep(5)
            s = sim.stats
            print(f"accepted={s.accepted} throttled={s.throttled} rejected={s.rejected} duplicates={s.duplicates} "
                  f"receipts={s.receipts_sent}/{s.receipts_acked} mo={s.mo_sent}/{s.mo_acked} "
                  f"concat={s.concat_complete}+{s.concat_incomplete} connections={len(sim._clients)}",
                  flush=True)  # fmt: skip
