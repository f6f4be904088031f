"""The SMSC simulator over real TCP, driven by a raw client made of nothing but the codec."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from conftest import wait_until

from taxsms.channels.simulator import SimulatorConfig, SmscSimulator, serve
from taxsms.channels.smpp import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CommandStatus,
    DataCoding,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    InvalidPduError,
    MessageState,
    PduBase,
    PduReader,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    decode_short_message,
    encode,
    encode_message,
    parse_concat_udh,
    parse_receipt,
)
from taxsms.channels.smsc.frames import receipt_frame
from taxsms.queue.correlation import normalise_message_id

RX_T_APPN = 0x64
CHINESE = "【某市税务局】尊敬的纳税人，您有一笔退税款已到账，请登录电子税务局查询明细。如有疑问请致电12366。" * 2


class RawClient:
    """A bare ESME: writes encoded PDUs, reads PDUs with PduReader, answers nothing on its own."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.pdus = PduReader()
        self.inbox: deque[PduBase | InvalidPduError] = deque()
        self.seq = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send(self, *pdus: PduBase) -> None:
        self.writer.write(b"".join(encode(p) for p in pdus))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def _read(self, timeout: float) -> bool:
        data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
        if not data:
            return False
        self.inbox.extend(self.pdus.feed(data))
        return True

    async def recv(self, cls: type[PduBase] | None = None, timeout: float = 2.0) -> PduBase:
        """The next PDU (of class `cls`, leaving the others in the inbox)."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.inbox:
                if isinstance(item, PduBase) and (cls is None or isinstance(item, cls)):
                    self.inbox.remove(item)
                    return item
            if not await self._read(max(0.0, deadline - time.monotonic())):
                raise EOFError("the simulator closed the connection")

    async def request(self, pdu: PduBase, timeout: float = 2.0) -> PduBase:
        """Send a request and wait for the PDU answering its sequence number."""
        self.send(pdu)
        deadline = time.monotonic() + timeout
        while True:
            for item in self.inbox:
                if isinstance(item, PduBase) and item.sequence_number == pdu.sequence_number:
                    self.inbox.remove(item)
                    return item
            if not await self._read(max(0.0, deadline - time.monotonic())):
                raise EOFError("the simulator closed the connection")

    async def bind(self, cls: type[PduBase] = BindTransceiver, password: str = "", system_id: str = "taxsms") -> int:
        resp = await self.request(cls(sequence_number=self.next_seq(), system_id=system_id, password=password))
        return resp.command_status

    def submit(self, destination: str = "8613912345678", text: bytes = b"hello", **fields: object) -> int:
        seq = self.next_seq()
        self.send(SubmitSm(sequence_number=seq, source_addr="12366", destination_addr=destination,
                           short_message=text, **fields))  # type: ignore[arg-type]  # fmt: skip
        return seq

    async def submit_and_wait(self, destination: str = "8613912345678", text: bytes = b"hello", **fields: object):
        seq = self.submit(destination, text, **fields)
        while True:
            resp = await self.recv(SubmitSmResp)
            if resp.sequence_number == seq:
                return resp

    async def closed(self, timeout: float = 2.0) -> bool:
        """True once the simulator has closed the connection (PDUs read meanwhile stay in the inbox)."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ConnectionError):
            while await self._read(max(0.0, deadline - time.monotonic())):
                pass
        return True


Connect = Callable[[SmscSimulator], Awaitable[RawClient]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    clients: list[RawClient] = []

    async def open_client(sim: SmscSimulator) -> RawClient:
        client = RawClient(*await asyncio.open_connection("127.0.0.1", sim.port))
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.writer.close()
        with contextlib.suppress(Exception):
            await client.writer.wait_closed()


# -- binds ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "resp_cls"),
    [(BindTransmitter, BindTransmitterResp), (BindReceiver, BindReceiverResp), (BindTransceiver, BindTransceiverResp)],
)
async def test_bind_ok_and_enquire_link(connect: Connect, cls: type[PduBase], resp_cls: type[PduBase]) -> None:
    async with SmscSimulator(SimulatorConfig(password="secret")) as sim:
        client = await connect(sim)
        resp = await client.request(cls(sequence_number=7, system_id="taxsms", password="secret"))
        assert isinstance(resp, resp_cls) and resp.command_status == 0 and resp.system_id
        link = await client.request(EnquireLink(sequence_number=8))
        assert isinstance(link, EnquireLinkResp) and link.command_status == 0
        assert sim.stats.binds == 1


async def test_bind_failures_keep_the_connection_open(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(password="secret")) as sim:
        client = await connect(sim)
        assert await client.bind(password="wrong") == CommandStatus.ESME_RINVPASWD
        assert await client.bind(password="secret", system_id="intruder") == CommandStatus.ESME_RINVSYSID
        assert await client.bind(password="secret") == CommandStatus.ESME_ROK
        assert await client.bind(password="secret") == CommandStatus.ESME_RALYBND
        assert (sim.stats.binds, sim.stats.bind_failures) == (1, 3)


async def test_any_password_when_none_is_configured(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        assert await client.bind(password="whatever") == CommandStatus.ESME_ROK


async def test_submit_needs_a_transmitting_bind(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        resp = await client.submit_and_wait()
        assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
        assert await client.bind(BindReceiver) == 0
        resp = await client.submit_and_wait()
        assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
        assert (sim.stats.submits, sim.stats.accepted, sim.stats.rejected) == (2, 0, 2)


async def test_unbind_answers_then_closes(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        await client.bind()
        resp = await client.request(Unbind(sequence_number=client.next_seq()))
        assert isinstance(resp, UnbindResp) and resp.command_status == 0
        assert await client.closed()


# -- submit_sm and receipts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("receipt_tlvs", [True, False])
@pytest.mark.parametrize("id_format", ["hex", "decimal"])
async def test_submit_gets_a_hex_id_and_a_receipt(connect: Connect, id_format: str, receipt_tlvs: bool) -> None:
    config = SimulatorConfig(dlr_ms=10, receipt_id_format=id_format, receipt_tlvs=receipt_tlvs)  # type: ignore[arg-type]
    async with SmscSimulator(config) as sim:
        client = await connect(sim)
        await client.bind()
        ids = []
        for _ in range(20):  # enough ids for hex letters to show up
            resp = await client.submit_and_wait(text=f"text {len(ids)}".encode(), registered_delivery=1)
            assert resp.command_status == 0 and re.fullmatch("[0-9a-f]+", resp.message_id)
            ids.append(normalise_message_id(resp.message_id))
        assert len(set(ids)) == 20
        found = []
        for _ in ids:
            receipt_pdu = await client.recv(DeliverSm)
            assert receipt_pdu.esm_class == 0x04
            client.send(DeliverSmResp(sequence_number=receipt_pdu.sequence_number))
            receipt = parse_receipt(receipt_pdu)
            assert receipt.state == MessageState.DELIVERED and receipt.stat == "DELIVRD"
            assert receipt.id_from_tlv == receipt_tlvs
            decimal = id_format == "decimal" and not receipt_tlvs  # the TLV always has the id as submit_sm_resp
            found.append(format(int(receipt.message_id), "x") if decimal else normalise_message_id(receipt.message_id))
        assert sorted(found) == sorted(ids)
        await wait_until(lambda: sim.stats.receipts_acked == 20)
        assert sim.stats.receipts_sent == 20 and sim.stats.accepted == 20


async def test_receipt_text_writes_decimal_ids_when_asked(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=0, receipt_id_format="decimal")) as sim:
        client = await connect(sim)
        await client.bind()
        for _ in range(11):
            resp = await client.submit_and_wait(registered_delivery=1)
        assert resp.message_id == "b"
        receipts = [await client.recv(DeliverSm) for _ in range(11)]
        assert receipts[-1].short_message.startswith(b"id:11 ")
        assert receipts[-1].receipted_message_id == "b"


async def test_receipt_frame_is_what_the_codec_writes() -> None:
    submit = SubmitSm(sequence_number=1, source_addr_ton=5, source_addr_npi=0, source_addr="12366", dest_addr_ton=1,
                      dest_addr_npi=1, destination_addr="8613912345678", registered_delivery=1)  # fmt: skip
    for tlvs in (True, False):
        for undeliv in (False, True):
            frame = receipt_frame(submit, "1f", undeliv, "2611230100", "2611230101", decimal_ids=True, tlvs=tlvs)
            pdu = decode(frame)
            assert isinstance(pdu, DeliverSm) and encode(pdu) == frame
            assert (pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi) == ("8613912345678", 1, 1)
            assert (pdu.destination_addr, pdu.dest_addr_ton, pdu.dest_addr_npi) == ("12366", 5, 0)
            assert pdu.esm_class == 0x04 and pdu.data_coding == 0
            text = pdu.short_message.decode()
            assert text.startswith("id:31 sub:001 ") and "submit date:2611230100" in text
            assert ("stat:UNDELIV err:001" if undeliv else "stat:DELIVRD err:000") in text
            if tlvs:
                state = MessageState.UNDELIVERABLE if undeliv else MessageState.DELIVERED
                assert (pdu.receipted_message_id, pdu.message_state) == ("1f", state)
                assert pdu.network_error_code == (b"\x03\x00\x01" if undeliv else None)
            else:
                assert pdu.receipted_message_id is None and pdu.message_state is None


async def test_undeliv_rate_one_gives_undeliv_receipts(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=0, undeliv_rate=1.0)) as sim:
        client = await connect(sim)
        await client.bind()
        for _ in range(5):
            await client.submit_and_wait(registered_delivery=1)
        for _ in range(5):
            receipt = parse_receipt(await client.recv(DeliverSm))
            assert (receipt.state, receipt.stat, receipt.error) == (MessageState.UNDELIVERABLE, "UNDELIV", "001")


async def test_undeliv_rate_mixes_outcomes_reproducibly(connect: Connect) -> None:
    async def outcomes() -> list[str]:
        async with SmscSimulator(SimulatorConfig(dlr_ms=0, undeliv_rate=0.3, seed=42)) as sim:
            client = await connect(sim)
            await client.bind()
            for _ in range(100):
                client.submit(registered_delivery=1)
            return [parse_receipt(await client.recv(DeliverSm)).stat for _ in range(100)]

    first = await outcomes()
    assert 10 < first.count("UNDELIV") < 50 and first.count("DELIVRD") + first.count("UNDELIV") == 100
    assert await outcomes() == first


async def test_receipt_on_failure_only(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=0)) as sim:
        client = await connect(sim)
        await client.bind()
        await client.submit_and_wait(registered_delivery=2)  # delivered: no receipt wanted
        await client.submit_and_wait(registered_delivery=0)
        assert sim.stats.receipts_sent == 0
        sim.config.undeliv_rate = 1.0
        await client.submit_and_wait(registered_delivery=2)
        assert parse_receipt(await client.recv(DeliverSm)).stat == "UNDELIV"
        assert sim.stats.receipts_sent == 1


async def test_latency_is_applied_concurrently(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(latency_ms=100)) as sim:
        client = await connect(sim)
        await client.bind()
        start = time.monotonic()
        seqs = {client.submit(text=f"m{i}".encode()) for i in range(50)}
        got = {(await client.recv(SubmitSmResp)).sequence_number for _ in range(50)}
        elapsed = time.monotonic() - start
        assert got == seqs
        assert 0.09 <= elapsed < 1.0  # 50 x 100 ms one after another would take 5 s
        assert sim.stats.max_in_flight_per_bind == 50 and sim.stats.accepted == 50


async def test_tps_limit_per_clock_second(connect: Connect) -> None:
    now = [1000.25]
    async with SmscSimulator(SimulatorConfig(tps=30), clock=lambda: now[0]) as sim:
        client = await connect(sim)
        await client.bind()
        statuses = [(await client.submit_and_wait(text=f"a{i}".encode())).command_status for i in range(50)]
        assert statuses == [0] * 30 + [CommandStatus.ESME_RTHROTTLED] * 20
        now[0] = 1001.9
        statuses = [(await client.submit_and_wait(text=f"b{i}".encode())).command_status for i in range(40)]
        assert statuses.count(0) == 30
        assert sim.stats.accepted_per_second == {1000: 30, 1001: 30}
        assert (sim.stats.accepted, sim.stats.throttled, sim.stats.rejected) == (60, 30, 0)


async def test_tps_limit_in_real_time(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(tps=200)) as sim:
        client = await connect(sim)
        await client.bind()
        for i in range(600):
            client.submit(text=f"m{i}".encode())
        statuses = [(await client.recv(SubmitSmResp)).command_status for _ in range(600)]
        assert sim.stats.throttled == statuses.count(CommandStatus.ESME_RTHROTTLED) > 0
        assert all(count <= 200 for count in sim.stats.accepted_per_second.values())


async def test_reject_prefixes(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(reject_prefixes=("86139000", "86188"))) as sim:
        client = await connect(sim)
        await client.bind()
        assert (await client.submit_and_wait("8613900012345")).command_status == CommandStatus.ESME_RINVDSTADR
        assert (await client.submit_and_wait("8618800000000")).command_status == CommandStatus.ESME_RINVDSTADR
        assert (await client.submit_and_wait("8613912345678")).command_status == 0
        assert (sim.stats.rejected, sim.stats.accepted) == (2, 1)


async def test_duplicates_are_counted(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        await client.bind()
        await client.submit_and_wait("8613900000001", b"same text")
        await client.submit_and_wait("8613900000002", b"same text")  # another taxpayer: not a duplicate
        await client.submit_and_wait("8613900000001", b"same text", data_coding=3)  # another coding: not either
        assert sim.stats.duplicates == 0
        await client.submit_and_wait("8613900000001", b"same text")
        await client.submit_and_wait("8613900000001", b"same text")
        assert (sim.stats.accepted, sim.stats.duplicates) == (5, 2)
        sim.reset_stats()
        await client.submit_and_wait("8613900000001", b"same text")
        assert (sim.stats.accepted, sim.stats.duplicates) == (1, 0)


async def test_duplicate_memory_is_bounded(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(duplicate_window=3)) as sim:
        client = await connect(sim)
        await client.bind()
        for text in (b"1", b"2", b"3", b"4", b"1", b"4"):
            await client.submit_and_wait(text=text)
        assert sim.stats.duplicates == 1  # "1" was forgotten, "4" was not


async def test_concatenated_parts_complete_and_incomplete(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        await client.bind()
        message = encode_message(CHINESE, reference=7)
        assert message.segments >= 2
        for part in message.parts:
            await client.submit_and_wait(text=part, esm_class=message.esm_class, data_coding=message.data_coding)
        assert (sim.stats.concat_complete, sim.stats.concat_incomplete) == (1, 0)
        other = encode_message(CHINESE, reference=8)
        for part in other.parts[:-1]:
            await client.submit_and_wait(text=part, esm_class=other.esm_class, data_coding=other.data_coding)
        assert (sim.stats.concat_complete, sim.stats.concat_incomplete) == (1, 1)
        await client.submit_and_wait(text=other.parts[-1], esm_class=other.esm_class, data_coding=other.data_coding)
        assert (sim.stats.concat_complete, sim.stats.concat_incomplete) == (2, 0)
        # the same part twice does not complete a message
        await client.submit_and_wait(text=message.parts[0], esm_class=0x40, data_coding=8)
        await client.submit_and_wait(text=message.parts[0], esm_class=0x40, data_coding=8)
        assert (sim.stats.concat_complete, sim.stats.concat_incomplete) == (2, 1)


async def test_concatenation_by_sar_tlvs(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        await client.bind()
        for seqnum in (2, 1, 3):
            await client.submit_and_wait(text=f"part {seqnum}".encode(), sar_msg_ref_num=300, sar_total_segments=3,
                                         sar_segment_seqnum=seqnum)  # fmt: skip
        assert (sim.stats.concat_complete, sim.stats.concat_incomplete) == (1, 0)


# -- MO -----------------------------------------------------------------------------------------------------------


async def test_inject_mo_long_chinese_text_in_parts(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        await client.bind(BindReceiver)
        await sim.inject_mo("8613912345678", "12366", CHINESE)
        expected = encode_message(CHINESE, 0).segments
        assert expected >= 2
        pdus = [await client.recv(DeliverSm) for _ in range(expected)]
        payloads = {}
        for pdu in pdus:
            assert (pdu.source_addr, pdu.destination_addr) == ("8613912345678", "12366")
            assert pdu.esm_class == 0x40 and pdu.data_coding == DataCoding.UCS2
            concat, payload = parse_concat_udh(pdu.short_message)
            assert concat is not None and concat.total == expected
            payloads[concat.seqnum] = payload
            client.send(DeliverSmResp(sequence_number=pdu.sequence_number))
        text = b"".join(payloads[i] for i in sorted(payloads))
        assert decode_short_message(text, DataCoding.UCS2) == CHINESE
        await wait_until(lambda: sim.stats.mo_acked == expected)
        assert sim.stats.mo_sent == expected and sim.stats.receipts_acked == 0


async def test_inject_mo_short_gsm_text(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        await client.bind(BindTransceiver)
        await sim.inject_mo("8613912345678", "12366", "TD")
        pdu = await client.recv(DeliverSm)
        assert (pdu.esm_class, pdu.data_coding, pdu.short_message) == (0, 0, b"TD")


async def test_inject_mo_without_a_receiver_raises(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        await client.bind(BindTransmitter)
        with pytest.raises(RuntimeError):
            await sim.inject_mo("8613912345678", "12366", "hello")


async def test_inject_mo_round_robin(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        clients = [await connect(sim) for _ in range(2)]
        for client in clients:
            await client.bind(BindReceiver)
        for i in range(4):
            await sim.inject_mo("8613912345678", "12366", f"m{i}")
        got = [[(await c.recv(DeliverSm)).short_message for _ in range(2)] for c in clients]
        assert sorted(got[0] + got[1]) == [b"m0", b"m1", b"m2", b"m3"]  # two each


# -- faults -----------------------------------------------------------------------------------------------------


async def test_drop_connections_and_receipts_arrive_after_rebind(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=100)) as sim:
        client = await connect(sim)
        await client.bind()
        resp = await client.submit_and_wait(registered_delivery=1)
        assert sim.drop_connections() == 1
        assert await client.closed()
        await wait_until(lambda: sim.stats.receipts_sent == 1)  # fell due while nobody was bound
        again = await connect(sim)
        await again.bind(BindReceiver)
        receipt = parse_receipt(await again.recv(DeliverSm))
        assert receipt.message_id == resp.message_id
        assert sim.stats.connections_dropped == 1


async def test_unacknowledged_receipts_are_sent_again_after_a_drop(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=0)) as sim:
        client = await connect(sim)
        await client.bind()
        resp = await client.submit_and_wait(registered_delivery=1)
        first = await client.recv(DeliverSm)  # not acknowledged
        sim.drop_connections()
        assert await client.closed()
        again = await connect(sim)
        await again.bind()
        second = await again.recv(DeliverSm)
        assert parse_receipt(first).message_id == parse_receipt(second).message_id == resp.message_id
        again.send(DeliverSmResp(sequence_number=second.sequence_number))
        await wait_until(lambda: sim.stats.receipts_acked == 1)
        assert sim.stats.redeliveries == 1 and sim.stats.receipts_sent == 1


async def test_receipts_wait_for_a_receiver_bind(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=0)) as sim:
        transmitter = await connect(sim)
        await transmitter.bind(BindTransmitter)
        resp = await transmitter.submit_and_wait(registered_delivery=1)
        receiver = await connect(sim)
        await receiver.bind(BindReceiver)
        assert parse_receipt(await receiver.recv(DeliverSm)).message_id == resp.message_id


async def test_deliver_sm_answered_with_an_error_is_sent_again(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(dlr_ms=0, redeliver_ms=20)) as sim:
        client = await connect(sim)
        await client.bind()
        await client.submit_and_wait(registered_delivery=1)
        first = await client.recv(DeliverSm)
        client.send(DeliverSmResp(sequence_number=first.sequence_number, command_status=RX_T_APPN))
        second = await client.recv(DeliverSm)
        assert second.short_message == first.short_message and second.sequence_number != first.sequence_number
        client.send(DeliverSmResp(sequence_number=second.sequence_number))
        await wait_until(lambda: sim.stats.receipts_acked == 1)
        assert sim.stats.redeliveries == 1


async def test_garbage_gets_generic_nack_and_the_server_stays_up(connect: Connect) -> None:
    async with SmscSimulator() as sim:
        bad = await connect(sim)
        bad.send_raw(b"\x00\x00\x00\x14\xde\xad\xbe\xef\x00\x00\x00\x00\x00\x00\x00\x4d" + b"junk")
        nack = await bad.recv()
        assert isinstance(nack, GenericNack)
        assert (nack.command_status, nack.sequence_number) == (CommandStatus.ESME_RINVCMDID, 0x4D)
        # a known request with a broken body is answered with its own resp and an error status
        bad.send_raw(b"\x00\x00\x00\x14\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x4e" + b"\xff" * 4)
        resp = await bad.recv()
        assert isinstance(resp, SubmitSmResp) and resp.sequence_number == 0x4E and resp.command_status != 0
        # the same connection still works, and so does everyone else
        assert await bad.bind() == 0
        other = await connect(sim)
        assert await other.bind() == 0
        assert (await other.submit_and_wait()).command_status == 0
        assert sim.stats.invalid_pdus == 2


@pytest.mark.parametrize("length", [0xFFFFFFFF, 8])
async def test_bogus_command_length_gets_generic_nack_then_close(connect: Connect, length: int) -> None:
    async with SmscSimulator() as sim:
        client = await connect(sim)
        client.send_raw(length.to_bytes(4, "big") + b"\x00\x00\x00\x04" + bytes(8))
        nack = await client.recv()
        assert isinstance(nack, GenericNack) and nack.command_status == CommandStatus.ESME_RINVCMDLEN
        assert await client.closed()
        other = await connect(sim)
        assert await other.bind() == 0


async def test_a_silent_bind_is_pinged_then_aborted(connect: Connect) -> None:
    async with SmscSimulator(SimulatorConfig(enquire_link_s=0.05)) as sim:
        client = await connect(sim)
        await client.bind()
        ping = await client.recv(EnquireLink)
        client.send(EnquireLinkResp(sequence_number=ping.sequence_number))
        assert await client.closed(timeout=3.0)  # then it stays silent
        assert sim.stats.links_timed_out == 1


async def test_stop_closes_every_connection(connect: Connect) -> None:
    sim = SmscSimulator(SimulatorConfig(latency_ms=1000, dlr_ms=1000))
    await sim.start()
    client = await connect(sim)
    await client.bind()
    client.submit(registered_delivery=1)
    await wait_until(lambda: sim.stats.submits == 1)
    await sim.stop()
    assert await client.closed()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", sim.port)


async def test_serve_prints_the_port(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(serve(SimulatorConfig()))
    printed: list[str] = []
    await wait_until(lambda: printed.append(capsys.readouterr().out) or "listening" in "".join(printed))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert re.search(r"listening on 127\.0\.0\.1:\d+", "".join(printed))
