"""Joining concatenated MO messages, with incomplete ones bounded in time, count and octets."""

from __future__ import annotations

import tracemalloc

from taxsms.channels.events import MO_PART_TTL_S, MoAssembler, MoMessage
from taxsms.channels.smpp import DeliverSm, encode_message

LONG = "您好，我想咨询一下小规模纳税人季度销售额未超过三十万元是否需要申报增值税。" * 3


def part(source: str, reference: int, total: int, seqnum: int, text: bytes = b"\x00A\x00B") -> DeliverSm:
    udh = bytes((5, 0, 3, reference, total, seqnum))
    return DeliverSm(sequence_number=1, source_addr=source, destination_addr="12366", esm_class=0x40,
                     data_coding=8, short_message=udh + text)  # fmt: skip


def test_parts_in_any_order_make_one_message() -> None:
    message = encode_message(LONG, 9)
    pdus = [DeliverSm(sequence_number=i, source_addr="8613800138000", destination_addr="12366",
                      esm_class=message.esm_class, data_coding=message.data_coding, short_message=p)
            for i, p in enumerate(message.parts)]  # fmt: skip
    assembler = MoAssembler()
    results = [assembler.classify(p) for p in reversed(pdus)]
    assert results[:-1] == [None] * (len(pdus) - 1)
    assert isinstance(results[-1], MoMessage) and results[-1].text == LONG
    assert assembler.pending == 0 and assembler.pending_bytes == 0 and assembler.dropped_parts == 0


def test_a_flood_of_first_parts_is_capped_in_count() -> None:
    """20,000 first parts of 255-part messages (the attack in issue 15) keep at most max_pending."""
    assembler = MoAssembler(max_pending=500)
    tracemalloc.start()
    for i in range(20_000):
        assert assembler.classify(part(f"86138{i:08d}", i % 256, 255, 1)) is None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert assembler.pending == 500 and assembler.dropped_parts == 19_500
    assert peak < 2_000_000  # bounded: not 20,000 pending messages' worth
    # the newest are kept: a message started last still completes
    last = [part("8613800019999", 19_999 % 256, 255, n) for n in range(2, 256)]
    assert isinstance([assembler.classify(p) for p in last][-1], MoMessage)


def test_pending_octets_are_capped() -> None:
    assembler = MoAssembler(max_pending_bytes=1_000)
    for i in range(100):
        assembler.classify(part(f"86138{i:08d}", 1, 3, 1, b"\x00X" * 50))  # 100 octets each
    assert assembler.pending_bytes <= 1_000 and assembler.pending == 10
    assert assembler.dropped_parts == 90


def test_the_same_part_twice_is_counted_once() -> None:
    assembler = MoAssembler()
    for _ in range(3):
        assembler.classify(part("8613800138000", 5, 2, 1))
    assert assembler.pending == 1 and assembler.pending_bytes == 4


def test_incomplete_messages_expire() -> None:
    now = [1000.0]
    assembler = MoAssembler(clock=lambda: now[0])
    assembler.classify(part("8613800138000", 1, 2, 1))
    now[0] += MO_PART_TTL_S + 1
    assembler.classify(part("8613800138001", 2, 2, 1))  # any later part trims what expired
    assert assembler.pending == 1 and assembler.dropped_parts == 1
    assert assembler.classify(part("8613800138000", 1, 2, 2)) is None  # its first part is gone
