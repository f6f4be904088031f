"""An SMSC simulator: a real SMPP 3.4 server over TCP for tests, benchmarks and the demo.

It answers binds, submit_sm (after a configurable latency, applied concurrently per PDU), enforces a TPS
limit with ESME_RTHROTTLED, sends delivery receipts after a delay with a DELIVRD/UNDELIV mix, injects MO
messages, drops every connection on demand, and counts what it saw (duplicates, concatenated parts, ...).

Built for speed on top of the sans-I/O codec: one asyncio.Protocol per connection, outgoing bytes collected
and written once per data_received or loop iteration, no task per PDU. Timed events (delayed responses,
receipts, redeliveries) go into one-millisecond buckets with one loop timer per bucket. Receipts are like a
real SMSC's: never dropped, kept until a receiver binds, and sent again when unacknowledged at a disconnect
or answered with an error status.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

from taxsms.channels.smpp import (
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_UDHI,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    FramingError,
    GenericNack,
    InvalidPduError,
    MessageState,
    PduBase,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    encode,
    encode_message,
    error_response,
    format_receipt_text,
    is_response,
    parse_concat_udh,
    response_for,
)

_RECEIVING = (BindReceiver, BindTransceiver)
_TRANSMITTING = (BindTransmitter, BindTransceiver)
_DELIVER_SM_ID = DeliverSm.command_id.to_bytes(4, "big")
# deliver_sm receipt body after the addresses: esm_class, protocol_id, priority_flag, schedule_delivery_time "",
# validity_period "", registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id.
_RECEIPT_MIDDLE = bytes((ESM_CLASS_DELIVERY_RECEIPT, 0, 0, 0, 0, 0, 0, 0, 0))
_UNDELIV_NETWORK_ERROR = b"\x03\x00\x01"  # network type GSM, error 1


@dataclass
class SimulatorConfig:
    """How the simulated SMSC behaves; every field but host and port may be changed while it runs."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    system_id: str = "taxsms"
    password: str | None = None  # None accepts any password
    latency_ms: float = 0.0  # before each submit_sm_resp, applied concurrently per PDU
    latency_jitter_ms: float = 0.0
    tps: float | None = None  # submit_sm accepted per second over all binds; beyond it ESME_RTHROTTLED
    dlr_ms: float = 50.0  # from the submit_sm_resp to the delivery receipt
    undeliv_rate: float = 0.0  # fraction of receipts that say UNDELIV (seeded RNG)
    seed: int = 0
    receipt_id_format: Literal["hex", "decimal"] = "hex"  # how the receipt text writes the (hex) message id
    receipt_tlvs: bool = True  # receipted_message_id / message_state (/ network_error_code) TLVs in receipts
    reject_prefixes: tuple[str, ...] = ()  # destinations starting with one of these get ESME_RINVDSTADR
    syserr_prefixes: tuple[str, ...] = ()  # ... get ESME_RSYSERR (a transient failure, worth a retry)
    enquire_link_s: float | None = 30.0  # our own enquire_link; a bind silent for two periods is aborted
    redeliver_ms: float = 1000.0  # a deliver_sm answered with an error status is sent again after this
    duplicate_window: int = 500_000  # how many accepted messages duplicate detection remembers
    keep_accepted: bool = False  # keep (clock, destination_addr, text bytes) of every accepted submit in order


@dataclass
class SimulatorStats:
    """What the simulator saw and did (concat_incomplete: concatenated messages started, not yet complete)."""

    binds: int = 0
    bind_failures: int = 0
    submits: int = 0  # every submit_sm received
    accepted: int = 0  # answered ESME_ROK
    throttled: int = 0  # answered ESME_RTHROTTLED
    rejected: int = 0  # answered another error status
    duplicates: int = 0  # accepted, with (destination_addr, data_coding, text) accepted before
    concat_complete: int = 0
    concat_incomplete: int = 0
    receipts_sent: int = 0  # receipts that fell due (each counted once, however often it is delivered)
    receipts_acked: int = 0  # receipts acknowledged with deliver_sm_resp ESME_ROK
    mo_sent: int = 0  # MO deliver_sm parts injected
    mo_acked: int = 0
    redeliveries: int = 0  # deliver_sm sent again: unacknowledged at a disconnect, or answered with an error
    connections_dropped: int = 0  # by drop_connections()
    links_timed_out: int = 0  # binds aborted for not answering enquire_link
    invalid_pdus: int = 0  # undecodable PDUs (answered by error_response) and framing errors
    max_in_flight_per_bind: int = 0  # most submit_sm awaiting their resp on one connection
    accepted_per_second: dict[int, int] = field(default_factory=dict)  # int(clock()) -> accepted

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class _Connection(asyncio.Protocol):
    """One ESME connected to the simulator: moves bytes between the socket and the codec."""

    def __init__(self, smsc: SmscSimulator) -> None:
        self.smsc = smsc
        self.transport: asyncio.Transport | None = None
        self.reader = PduReader()
        self.bound: type[PduBase] | None = None
        self.closing = False
        self.out: list[bytes] = []
        self.flush_scheduled = False
        self.in_flight = 0  # submit_sm awaiting their delayed resp
        self.seq = 0
        self.unacked: dict[int, tuple[bytes, bool]] = {}  # our deliver_sm by sequence number: (frame, is_receipt)
        self.heard = True  # anything received since the last keepalive tick
        self.silent_ticks = 0

    @property
    def receiving(self) -> bool:
        return self.bound in _RECEIVING and not self.closing

    # -- asyncio.Protocol -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.smsc._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closing = True
        self.out.clear()
        self.smsc._connection_lost(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.heard = True
        self.flush_scheduled = True  # everything written while handling this chunk goes out in one write
        smsc = self.smsc
        try:
            broken = False
            try:
                pdus = self.reader.feed(data)
            except FramingError as exc:
                broken, pdus = True, exc.pdus  # answer what came before the garbage, then hang up
            handlers = smsc._handlers
            for pdu in pdus:
                if isinstance(pdu, InvalidPduError):
                    smsc.stats.invalid_pdus += 1
                    self.out.append(encode(error_response(pdu)))
                else:
                    handlers.get(type(pdu), smsc._on_other)(self, pdu)
                if self.closing:
                    break
            if broken and not self.closing:
                smsc.stats.invalid_pdus += 1
                self.out.append(encode(GenericNack(sequence_number=0, command_status=CommandStatus.ESME_RINVCMDLEN)))
                self.close()
        finally:
            self.flush()

    # -- writing ----------------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes; they go out in one transport write at the end of this loop iteration."""
        self.out.append(data)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.out:
            if self.transport is not None and not self.closing:
                self.transport.write(b"".join(self.out))
            self.out.clear()

    def close(self) -> None:
        """Send what is queued, then close (unbind, framing error)."""
        self.flush()
        self.closing = True
        self.smsc._not_receiving(self)
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, like a network failure."""
        self.closing = True
        self.out.clear()
        self.smsc._not_receiving(self)
        if self.transport is not None:
            self.transport.abort()

    def send_deliver(self, frame: bytes, is_receipt: bool) -> None:
        """Send a deliver_sm encoded with sequence number 0 under our next sequence number."""
        self.seq = self.seq + 1 if self.seq < 0x7FFFFFFF else 1
        self.unacked[self.seq] = (frame, is_receipt)
        self.write(frame[:12] + self.seq.to_bytes(4, "big") + frame[16:])


class SmscSimulator:
    """The simulated SMSC. Use `async with SmscSimulator(config) as sim:` or start()/stop()."""

    def __init__(self, config: SimulatorConfig | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or SimulatorConfig()
        self.stats = SimulatorStats()
        self.port = self.config.port
        self._clock = clock
        self._rng = random.Random(self.config.seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._connections: set[_Connection] = set()
        self._receivers: list[_Connection] = []  # bound receivers/transceivers, in bind order
        self._rr = 0  # round-robin position in _receivers
        self._outbox: deque[tuple[bytes, bool]] = deque()  # deliver_sm waiting for a receiver to bind
        self._buckets: dict[int, list[tuple[Callable[[Any, Any], None], Any, Any]]] = {}  # due ms -> events
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._next_id = 0
        self.accepted_log: list[tuple[float, str, bytes]] = []  # with config.keep_accepted
        self._seen: set[int] = set()  # hashes of accepted (destination_addr, data_coding, text)
        self._seen_order: deque[int] = deque()
        self._concat: dict[tuple[str, int, int], set[int]] = {}  # (destination, reference, total) -> seqnums
        self._second = 0
        self._second_count = 0
        self._stamp_second = -1
        self._stamp = ""
        self._mo_ref = 0
        self._handlers: dict[type[PduBase], Callable[[_Connection, Any], None]] = {
            SubmitSm: self._on_submit,
            DeliverSmResp: self._on_deliver_resp,
            EnquireLink: self._on_enquire_link,
            BindTransmitter: self._on_bind,
            BindReceiver: self._on_bind,
            BindTransceiver: self._on_bind,
            Unbind: self._on_unbind,
        }

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen; `port` then holds the bound port."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(lambda: _Connection(self), self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._keepalive = asyncio.create_task(self._keepalive_loop())

    async def stop(self) -> None:
        """Close the server and every connection; pending responses and receipts are forgotten."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
            self._keepalive = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._buckets.clear()
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let connection_lost run

    async def __aenter__(self) -> SmscSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset_stats(self) -> None:
        """Zero the counters and forget the messages seen (duplicates, concatenation)."""
        self.stats = SimulatorStats()
        self._seen.clear()
        self._seen_order.clear()
        self._concat.clear()

    # -- fault injection and MO -----------------------------------------------------------------------------

    def drop_connections(self) -> int:
        """Abort every client connection now, without unbind; returns how many were dropped.

        deliver_sm not yet acknowledged on them are sent again when a receiver binds.
        """
        dropped = 0
        for conn in list(self._connections):
            if not conn.closing:
                conn.abort()
                dropped += 1
        self.stats.connections_dropped += dropped
        return dropped

    async def inject_mo(self, source: str, destination: str, text: str) -> None:
        """Send a taxpayer's message as deliver_sm to a bound receiver (round robin); long text goes in parts.

        GSM 03.38 (data_coding 0) when the text fits, else UCS2 (8); all parts over the same connection.
        Raises RuntimeError when no receiver or transceiver is bound.
        """
        conn = self._next_receiver()
        if conn is None:
            raise RuntimeError("no receiver or transceiver is bound to the simulator")
        self._mo_ref = (self._mo_ref + 1) & 0xFF
        message = encode_message(text, self._mo_ref)
        for part in message.parts:
            frame = encode(DeliverSm(
                sequence_number=0, source_addr_ton=1, source_addr_npi=1, source_addr=source,
                destination_addr=destination, esm_class=message.esm_class, data_coding=message.data_coding,
                short_message=part,
            ))  # fmt: skip
            conn.send_deliver(frame, False)
            self.stats.mo_sent += 1

    # -- PDUs from the ESME ---------------------------------------------------------------------------------

    def _on_other(self, conn: _Connection, pdu: PduBase) -> None:
        if not is_response(pdu):  # a request an SMSC does not take from an ESME (e.g. deliver_sm)
            conn.write(encode(GenericNack(sequence_number=pdu.sequence_number,
                                          command_status=CommandStatus.ESME_RINVCMDID)))  # fmt: skip

    def _on_enquire_link(self, conn: _Connection, pdu: EnquireLink) -> None:
        conn.write(encode(EnquireLinkResp(sequence_number=pdu.sequence_number)))

    def _on_unbind(self, conn: _Connection, pdu: Unbind) -> None:
        conn.write(encode(response_for(pdu)))
        conn.close()

    def _on_bind(self, conn: _Connection, pdu: BindTransmitter | BindReceiver | BindTransceiver) -> None:
        cfg = self.config
        if conn.bound is not None:
            status = CommandStatus.ESME_RALYBND
        elif pdu.system_id != cfg.system_id:
            status = CommandStatus.ESME_RINVSYSID
        elif cfg.password is not None and pdu.password != cfg.password:
            status = CommandStatus.ESME_RINVPASWD
        else:
            status = CommandStatus.ESME_ROK
        if status:
            self.stats.bind_failures += 1
            conn.write(encode(response_for(pdu, command_status=status)))
            return
        conn.bound = type(pdu)
        self.stats.binds += 1
        conn.write(encode(response_for(pdu, system_id="taxsms-sim", sc_interface_version=0x34)))
        if conn.receiving:
            self._receivers.append(conn)
            while self._outbox:
                frame, is_receipt = self._outbox.popleft()
                conn.send_deliver(frame, is_receipt)

    def _on_submit(self, conn: _Connection, pdu: SubmitSm) -> None:
        stats, cfg = self.stats, self.config
        stats.submits += 1
        if conn.bound not in _TRANSMITTING:
            status = CommandStatus.ESME_RINVBNDSTS
        elif cfg.reject_prefixes and pdu.destination_addr.startswith(cfg.reject_prefixes):
            status = CommandStatus.ESME_RINVDSTADR
        elif cfg.syserr_prefixes and pdu.destination_addr.startswith(cfg.syserr_prefixes):
            status = CommandStatus.ESME_RSYSERR
        elif cfg.tps is not None and not self._take_token(cfg.tps):
            status = CommandStatus.ESME_RTHROTTLED
        else:
            status = CommandStatus.ESME_ROK
        if status:
            if status == CommandStatus.ESME_RTHROTTLED:
                stats.throttled += 1
            else:
                stats.rejected += 1
            resp = encode(SubmitSmResp(sequence_number=pdu.sequence_number, command_status=status))
        else:
            message_id = self._accept(pdu)
            resp = encode(SubmitSmResp(sequence_number=pdu.sequence_number, message_id=message_id))
        delay = (cfg.latency_ms + self._rng.uniform(-cfg.latency_jitter_ms, cfg.latency_jitter_ms)
                 if cfg.latency_jitter_ms else cfg.latency_ms) / 1000  # fmt: skip
        if conn.in_flight >= stats.max_in_flight_per_bind:
            stats.max_in_flight_per_bind = conn.in_flight + 1
        if delay > 0:
            conn.in_flight += 1
            self._schedule(delay, self._answer, conn, resp)
        else:
            delay = 0.0
            conn.write(resp)
        if status or not pdu.registered_delivery & 0x03:
            return
        undeliv = bool(cfg.undeliv_rate) and self._rng.random() < cfg.undeliv_rate
        if pdu.registered_delivery & 0x03 != 2 or undeliv:  # 2 = receipt on failure only
            receipt = (pdu, message_id, undeliv, self._wall_stamp())
            due = delay + cfg.dlr_ms / 1000
            if due > 0:
                self._schedule(due, self._receipt_due, conn, receipt)
            else:
                self._receipt_due(conn, receipt)

    def _on_deliver_resp(self, conn: _Connection, pdu: DeliverSmResp) -> None:
        entry = conn.unacked.pop(pdu.sequence_number, None)
        if entry is None:
            return
        if pdu.command_status:  # the ESME could not take it now: like a real SMSC, try again later
            self._schedule(self.config.redeliver_ms / 1000, self._redeliver, None, entry)
        elif entry[1]:
            self.stats.receipts_acked += 1
        else:
            self.stats.mo_acked += 1

    # -- accepting ------------------------------------------------------------------------------------------

    def _accept(self, pdu: SubmitSm) -> str:
        stats = self.stats
        stats.accepted += 1
        second = int(self._clock())
        stats.accepted_per_second[second] = stats.accepted_per_second.get(second, 0) + 1
        text = pdu.text_bytes
        if self.config.keep_accepted:
            self.accepted_log.append((self._clock(), pdu.destination_addr, text))
        key = hash((pdu.destination_addr, pdu.data_coding, text))
        if key in self._seen:
            stats.duplicates += 1
        else:
            self._seen.add(key)
            self._seen_order.append(key)
            if len(self._seen_order) > self.config.duplicate_window:
                self._seen.discard(self._seen_order.popleft())
        if pdu.esm_class & ESM_CLASS_UDHI:
            try:
                concat, _ = parse_concat_udh(text)
            except ValueError:
                concat = None
            if concat is not None:
                self._count_part(pdu.destination_addr, concat.reference, concat.total, concat.seqnum)
        elif pdu.sar_msg_ref_num is not None and pdu.sar_total_segments and pdu.sar_segment_seqnum:
            self._count_part(pdu.destination_addr, pdu.sar_msg_ref_num, pdu.sar_total_segments,
                             pdu.sar_segment_seqnum)  # fmt: skip
        self._next_id += 1
        return f"{self._next_id:x}"

    def _count_part(self, destination: str, reference: int, total: int, seqnum: int) -> None:
        group = (destination, reference, total)
        parts = self._concat.get(group)
        if parts is None:
            parts = self._concat[group] = set()
            self.stats.concat_incomplete += 1
        parts.add(seqnum)
        if len(parts) >= total:
            del self._concat[group]
            self.stats.concat_incomplete -= 1
            self.stats.concat_complete += 1

    def _take_token(self, tps: float) -> bool:
        """Fixed one-second windows of the clock: at most `tps` accepted in each."""
        second = int(self._clock())
        if second != self._second:
            self._second, self._second_count = second, 0
        if self._second_count >= tps:
            return False
        self._second_count += 1
        return True

    def _wall_stamp(self) -> str:
        """Now as YYMMDDhhmm (local time), computed once a second."""
        now = int(time.time())
        if now != self._stamp_second:
            self._stamp_second, self._stamp = now, time.strftime("%y%m%d%H%M", time.localtime(now))
        return self._stamp

    # -- timed events ---------------------------------------------------------------------------------------

    def _schedule(self, delay: float, callback: Callable[[Any, Any], None], a: object, b: object) -> None:
        """Run callback(a, b) after `delay` seconds (rounded up to the millisecond), one timer per millisecond."""
        loop = self._loop
        assert loop is not None, "the simulator is not started"
        due = math.ceil((loop.time() + delay) * 1000)
        bucket = self._buckets.get(due)
        if bucket is None:
            bucket = self._buckets[due] = []
            self._timers[due] = loop.call_at(due / 1000, self._fire, due)
        bucket.append((callback, a, b))

    def _fire(self, due: int) -> None:
        self._timers.pop(due, None)
        for callback, a, b in self._buckets.pop(due, ()):
            callback(a, b)

    def _answer(self, conn: _Connection, resp: bytes) -> None:
        conn.in_flight -= 1
        if not conn.closing:
            conn.write(resp)

    def _receipt_due(self, conn: _Connection, receipt: tuple[SubmitSm, str, bool, str]) -> None:
        pdu, message_id, undeliv, submitted = receipt
        self.stats.receipts_sent += 1
        self._deliver(self._receipt_frame(pdu, message_id, undeliv, submitted), True, conn)

    def _receipt_frame(self, pdu: SubmitSm, message_id: str, undeliv: bool, submitted: str) -> bytes:
        """The receipt deliver_sm (sequence number 0), as codec.encode would write it, built directly for speed."""
        cfg = self.config
        text_id = str(int(message_id, 16)) if cfg.receipt_id_format == "decimal" else message_id
        text = format_receipt_text(
            text_id, "UNDELIV" if undeliv else "DELIVRD", submitted=submitted, done=self._wall_stamp(),
            err="001" if undeliv else "000",
        ).encode("ascii")  # fmt: skip
        parts = [
            b"\0", bytes((pdu.dest_addr_ton, pdu.dest_addr_npi)), pdu.destination_addr.encode("latin-1"), b"\0",
            bytes((pdu.source_addr_ton, pdu.source_addr_npi)), pdu.source_addr.encode("latin-1"), b"\0",
            _RECEIPT_MIDDLE, bytes((len(text),)), text,
        ]  # fmt: skip
        if cfg.receipt_tlvs:
            if undeliv:
                parts += (Tag.NETWORK_ERROR_CODE.to_bytes(2, "big"), b"\x00\x03", _UNDELIV_NETWORK_ERROR)
            state = MessageState.UNDELIVERABLE if undeliv else MessageState.DELIVERED
            parts += (Tag.MESSAGE_STATE.to_bytes(2, "big"), b"\x00\x01", bytes((state,)))
            rmid = message_id.encode("ascii") + b"\0"
            parts += (Tag.RECEIPTED_MESSAGE_ID.to_bytes(2, "big"), len(rmid).to_bytes(2, "big"), rmid)
        body = b"".join(parts)
        return (16 + len(body)).to_bytes(4, "big") + _DELIVER_SM_ID + bytes(8) + body

    # -- delivering to the ESME -----------------------------------------------------------------------------

    def _deliver(self, frame: bytes, is_receipt: bool, prefer: _Connection | None = None) -> None:
        """Send a deliver_sm over `prefer` if it still receives, else round robin, else keep it for a bind."""
        if prefer is not None and prefer.receiving:
            prefer.send_deliver(frame, is_receipt)
            return
        conn = self._next_receiver()
        if conn is None:
            self._outbox.append((frame, is_receipt))
        else:
            conn.send_deliver(frame, is_receipt)

    def _redeliver(self, _: None, entry: tuple[bytes, bool]) -> None:
        self.stats.redeliveries += 1
        self._deliver(*entry)

    def _next_receiver(self) -> _Connection | None:
        receivers = self._receivers
        if not receivers:
            return None
        self._rr = (self._rr + 1) % len(receivers)
        return receivers[self._rr]

    def _not_receiving(self, conn: _Connection) -> None:
        if conn in self._receivers:
            self._receivers.remove(conn)

    def _connection_lost(self, conn: _Connection) -> None:
        self._connections.discard(conn)
        self._not_receiving(conn)
        entries = list(conn.unacked.values())
        conn.unacked.clear()
        self.stats.redeliveries += len(entries)
        for frame, is_receipt in entries:
            self._deliver(frame, is_receipt)

    async def _keepalive_loop(self) -> None:
        """Our own enquire_link to every bind; a bind that stays silent for two periods is aborted."""
        while True:
            period = self.config.enquire_link_s
            await asyncio.sleep(period or 1.0)
            if not period:
                continue
            for conn in list(self._connections):
                if conn.bound is None or conn.closing:
                    continue
                if conn.heard:
                    conn.heard, conn.silent_ticks = False, 0
                else:
                    conn.silent_ticks += 1
                    if conn.silent_ticks >= 2:
                        self.stats.links_timed_out += 1
                        conn.abort()
                        continue
                conn.seq = conn.seq + 1 if conn.seq < 0x7FFFFFFF else 1
                conn.write(encode(EnquireLink(sequence_number=conn.seq)))


async def serve(config: SimulatorConfig) -> None:
    """Run a simulator until cancelled, printing its counters every 5 seconds (`taxsms simulator`)."""
    async with SmscSimulator(config) as sim:
        print(f"SMSC simulator listening on {config.host}:{sim.port}", flush=True)
        while True:
            await asyncio.sleep(5)
            s = sim.stats
            print(f"accepted={s.accepted} throttled={s.throttled} rejected={s.rejected} duplicates={s.duplicates} "
                  f"receipts={s.receipts_sent}/{s.receipts_acked} mo={s.mo_sent}/{s.mo_acked} "
                  f"concat={s.concat_complete}+{s.concat_incomplete} connections={len(sim._connections)}",
                  flush=True)  # fmt: skip
