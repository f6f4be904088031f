"""A minimal raw windowed SMPP client: the ceiling taxsms is measured against in the same run.

No Redis, no job model, no codec: the submit_sm bytes are built once with struct and only the sequence number
changes; up to `window` submits are outstanding; every deliver_sm (receipt) is answered at once with a
deliver_sm_resp. It does the least any windowed ESME must do, so what taxsms reaches as a share of it is what
its Redis bookkeeping, rendering and receipt tracking cost on the same machine, in the same run.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass

HEADER = struct.Struct(">IIII")
BIND_TRANSCEIVER, BIND_TRANSCEIVER_RESP = 0x09, 0x80000009
SUBMIT_SM, SUBMIT_SM_RESP = 0x04, 0x80000004
DELIVER_SM, DELIVER_SM_RESP = 0x05, 0x80000005
UNBIND = 0x06
TEXT = "【某市税务局】尊敬的纳税人：您本月增值税申报期限为15日，请及时办理申报。".encode("utf-16-be")


@dataclass
class RawResult:
    jobs: int
    seconds: float
    msg_per_s: float
    cpu_us_per_msg: float


def _pdu(command_id: int, sequence: int, body: bytes, status: int = 0) -> bytes:
    return HEADER.pack(16 + len(body), command_id, status, sequence) + body


def _submit_body(destination: str) -> bytes:
    return (
        b"\x00"  # service_type
        + b"\x05\x00"
        + b"12366\x00"  # source ton, npi, addr
        + b"\x01\x01"
        + destination.encode()
        + b"\x00"  # dest ton, npi, addr
        + b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
        + b"\x00\x00"  # schedule_delivery_time, validity_period
        + b"\x01\x00\x08\x00"  # registered_delivery, replace_if_present, data_coding UCS2, sm_default_msg_id
        + bytes([len(TEXT)])
        + TEXT
    )


class _RawProtocol(asyncio.Protocol):
    def __init__(self, jobs: int, window: int) -> None:
        self.jobs, self.window = jobs, window
        self.buffer = bytearray()
        self.sent = self.answered = self.receipts = 0
        self.body = _submit_body("8613900000000")
        self.bound = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        body = b"taxsms\x00x\x00\x00\x34\x00\x00\x00"
        transport.write(_pdu(BIND_TRANSCEIVER, 1, body))  # type: ignore[attr-defined]

    def _fill(self, out: list[bytes]) -> None:
        while self.sent < self.jobs and self.sent - self.answered < self.window:
            self.sent += 1
            out.append(_pdu(SUBMIT_SM, self.sent + 1, self.body))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        view, offset = self.buffer, 0
        while len(view) - offset >= 16:
            length, command_id, status, sequence = HEADER.unpack_from(view, offset)
            if len(view) - offset < length:
                break
            offset += length
            if command_id == SUBMIT_SM_RESP:
                self.answered += 1
            elif command_id == DELIVER_SM:
                self.receipts += 1
                out.append(_pdu(DELIVER_SM_RESP, sequence, b"\x00"))
            elif command_id == BIND_TRANSCEIVER_RESP and not self.bound.done():
                self.bound.set_result(status)
        del self.buffer[:offset]
        if self.bound.done():
            self._fill(out)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if self.answered >= self.jobs and self.receipts >= self.jobs and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"SMSC closed the connection: {exc}"))


async def raw_run(port: int, jobs: int, window: int, host: str = "127.0.0.1") -> RawResult:
    """Send `jobs` one-segment UCS2 submits with `window` outstanding; wait for every response and receipt."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_connection(lambda: _RawProtocol(jobs, window), host, port)
    try:
        status = await asyncio.wait_for(protocol.bound, 10)
        if status:
            raise ConnectionError(f"bind refused, status {status:#x}")
        cpu, started = time.process_time(), time.perf_counter()
        out: list[bytes] = []
        protocol._fill(out)
        transport.write(b"".join(out))
        await asyncio.wait_for(protocol.done, 300)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        transport.write(_pdu(UNBIND, 0x7FFFFFFF, b""))
    finally:
        transport.close()
    return RawResult(jobs, seconds, jobs / seconds, cpu / jobs * 1e6)
