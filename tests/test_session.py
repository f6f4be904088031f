"""The asyncio SMPP session over real TCP: MO and receipts, a hostile peer, response timeouts, several binds,
bind refusals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from conftest import wait_until

from taxsms import settings
from taxsms.channels.events import MoMessage
from taxsms.channels.pool import SmppPool
from taxsms.channels.session import SessionConfig
from taxsms.channels.simulator import SimulatorConfig, SmscSimulator
from taxsms.channels.smpp import (
    BindTransceiverResp,
    PduReader,
    Receipt,
    SubmitSm,
    encode,
)

LONG_MO = "您好，我想咨询一下小规模纳税人季度销售额未超过三十万元是否需要申报增值税，以及附加税费如何计算，谢谢！"


def submit(to: str = "8613900000001", text: bytes = b"hello") -> bytes:
    return encode(SubmitSm(sequence_number=0, destination_addr=to, registered_delivery=1, short_message=text))


@pytest.fixture
async def sim() -> AsyncIterator[SmscSimulator]:
    simulator = SmscSimulator(SimulatorConfig(dlr_ms=5))
    await simulator.start()
    yield simulator
    await simulator.stop()


def config(port: int, **extra: float) -> SessionConfig:
    return SessionConfig(host="127.0.0.1", port=port, system_id="taxsms", password="pw", **extra)  # type: ignore[arg-type]


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> float:
    """wait_until at a finer poll (these tests time back-offs of a few ms); returns when it held."""
    return await wait_until(predicate, timeout, every=0.005)


async def test_mo_and_receipts_are_classified(sim: SmscSimulator) -> None:
    events: list[Receipt | MoMessage] = []
    pool = SmppPool(config(sim.port), events.append)
    pool.start()
    await pool.wait_bound(5)
    result = await pool.submit(submit())
    assert result.ok and result.message_id
    await sim.inject_mo("8613800138000", "12366", LONG_MO)  # UCS2 in several parts, joined on our side
    await sim.inject_mo("8613800138000", "12366", "KT")
    await until(lambda: len(events) >= 3)
    await pool.close()
    receipts = [e for e in events if isinstance(e, Receipt)]
    mos = [e for e in events if isinstance(e, MoMessage)]
    assert [r.message_id.lower().lstrip("0") for r in receipts] == [result.message_id.lower().lstrip("0")]
    assert [m.text for m in mos] == [LONG_MO, "KT"]
    assert mos[0].source == "8613800138000"


async def test_several_binds_share_the_load(sim: SmscSimulator) -> None:
    pool = SmppPool(config(sim.port, window=4), lambda e: None, binds=3)
    pool.start()
    await asyncio.wait_for(asyncio.gather(*(s.bound_event.wait() for s in pool.sessions)), 5)
    assert pool.bound == 3
    sim.config.latency_ms = 5
    results = await asyncio.gather(*(pool.submit(submit(f"86139{i:08d}")) for i in range(120)))
    assert all(r.ok for r in results)
    per_bind = [s.stats.accepted for s in pool.sessions]
    await pool.close()
    assert sum(per_bind) == 120 and min(per_bind) > 0, per_bind


class HostileSmsc:
    """Accepts the bind, then answers the first submit_sm with garbage bytes; counts connections."""

    def __init__(self, garbage: bytes) -> None:
        self.garbage = garbage
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        pdus = PduReader()
        try:
            while data := await reader.read(65536):
                for pdu in pdus.feed(data):
                    if pdu.command_id == 0x00000009:  # bind_transceiver
                        writer.write(encode(BindTransceiverResp(sequence_number=pdu.sequence_number, system_id="x")))
                    elif pdu.command_id == 0x00000004:  # submit_sm
                        writer.write(self.garbage)
                await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\x00\x00\x05junk", b"\xff" * 64, b"\x00\x00\x00\x10\x7f\x7f\x7f\x7f\x00\x00\x00\x00\x00\x00\x00\x01"],
    ids=["short-length", "huge-length", "unknown-command"],
)
async def test_garbage_from_the_smsc_never_kills_the_session(garbage: bytes) -> None:
    peer = HostileSmsc(garbage)
    port = await peer.start()
    pool = SmppPool(config(port, response_timeout=0.3, reconnect_min=0.02, reconnect_max=0.05), lambda e: None)
    pool.start()
    future = pool.submit(submit())
    await until(lambda: peer.connections >= 2 or pool.sessions[0].stats.protocol_errors >= 1)
    stats = pool.sessions[0].stats
    assert stats.protocol_errors >= 1 or stats.timeouts >= 1
    assert not future.done()  # never answered: the submit is still owned by the channel, to be sent again
    await pool.close(drain_timeout=0.1)
    assert peer.server is not None
    peer.server.close()


async def test_unanswered_submit_times_out_and_is_sent_again(sim: SmscSimulator) -> None:
    sim.config.latency_ms = 400  # longer than the response timeout: the first attempt times out
    pool = SmppPool(config(sim.port, response_timeout=0.2), lambda e: None)
    pool.start()
    await pool.wait_bound(5)
    future = pool.submit(submit())
    await until(lambda: pool.sessions[0].stats.timeouts >= 1)  # the first attempt timed out
    assert not future.done()
    sim.config.latency_ms = 0
    result = await asyncio.wait_for(future, 5)
    stats = pool.sessions[0].stats
    await pool.close()
    assert result.ok and stats.timeouts >= 1


async def test_a_bind_refused_for_its_credentials_backs_off() -> None:
    """Retrying a wrong password every few ms (reconnect_min) could lock the account at a real SMSC."""
    async with SmscSimulator(SimulatorConfig(password="secret")) as sim:
        pool = SmppPool(config(sim.port, reconnect_min=0.005, reconnect_max=0.01, bind_refused_retry_min=0.4,
                               bind_refused_retry_max=0.8), lambda e: None)  # fmt: skip
        pool.start()
        first = await until(lambda: sim.stats.bind_failures >= 1)
        second = await until(lambda: sim.stats.bind_failures >= 2)
        assert second - first >= 0.4 * 0.5  # bind_refused_retry_min less the jitter, not reconnect_min
        sim.config.password = None
        await pool.wait_bound(5)
        assert pool.stats().bind_refusals == sim.stats.bind_failures >= 2
        await pool.close()


async def test_a_bind_refusal_is_logged_once_per_change_with_where_and_who(caplog: pytest.LogCaptureFixture) -> None:
    async with SmscSimulator(SimulatorConfig(password="secret")) as sim:
        pool = SmppPool(config(sim.port, bind_refused_retry_min=0.01, bind_refused_retry_max=0.02), lambda e: None)
        with caplog.at_level(logging.INFO, logger="taxsms.channels.session"):
            pool.start()
            await until(lambda: sim.stats.bind_failures >= 4)
            refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
            assert len(refusals) == 1
            assert all(part in refusals[0] for part in ("127.0.0.1", str(sim.port), "'taxsms'", "ESME_RINVPASWD"))
            sim.config.system_id = "other"  # the refusal changes: logged again, once
            await until(lambda: sim.stats.bind_failures >= 8)
            refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
            assert len(refusals) == 2 and "ESME_RINVSYSID" in refusals[1]
            sim.config.system_id, sim.config.password = "taxsms", None
            await pool.wait_bound(5)
        assert any("bound" in r.getMessage() and "after refusals" in r.getMessage() for r in caplog.records)
        await pool.close()


def test_the_caps_and_the_refusal_back_off_are_settings() -> None:
    """[smpp] settings (file, TAXSMS_SMPP_* or flags) reach every bind's session; their defaults are the session's."""
    environ = {"TAXSMS_SMPP_MO_MAX_PENDING": "50", "TAXSMS_SMPP_BIND_REFUSED_RETRY_MIN": "120"}
    session = settings.load(environ=environ).settings.worker_config().session_config()
    assert (session.mo_max_pending, session.bind_refused_retry_min) == (50, 120.0)
    defaults = settings.load(environ={}).settings.worker_config().session_config()
    assert defaults == SessionConfig(host=defaults.host, port=defaults.port, system_id=defaults.system_id,
                                     password=defaults.password)  # fmt: skip
