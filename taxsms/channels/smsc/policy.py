"""What the simulated SMSC decides: binds, submit_sm answers, receipts, and what it remembers.

A bind needs config.system_id and (unless None) config.password: else ESME_RINVSYSID / ESME_RINVPASWD.
A submit_sm's answer: ESME_RINVDSTADR / ESME_RSYSERR for configured destination prefixes, ESME_RTHROTTLED beyond the TPS
limit (fixed one-second windows of the clock), else ESME_ROK with the next hex message id; after latency_ms
(± jitter); a receipt (DELIVRD, or UNDELIV at undeliv_rate, seeded) when registered_delivery asks. What it
remembers: accepted per clock second, duplicates (destination, data coding, text) within a bounded window,
concatenated messages completed and incomplete (by UDH or SAR TLVs), optionally every accepted submit.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

from taxsms.channels.smpp import ESM_CLASS_UDHI, CommandStatus, PduBase, SubmitSm, SubmitSmResp, parse_concat_udh
from taxsms.channels.smsc.config import SimulatorConfig, SimulatorStats
from taxsms.channels.smsc.frames import WallStamp, receipt_frame

#: A receipt to send: the submit_sm, its message id, UNDELIV (else DELIVRD), when it was submitted (YYMMDDhhmm).
ReceiptDue = tuple[SubmitSm, str, bool, str]


class SmscPolicy:
    """Decides for the simulator and keeps the counts in `stats` (replaced by reset())."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.stats = SimulatorStats()
        self.accepted_log: list[tuple[float, str, bytes]] = []  # with config.keep_accepted
        self._clock = clock
        self._stamp = WallStamp()
        self._rng = random.Random(config.seed)
        self._next_id = 0
        self._seen: set[int] = set()  # hashes of accepted (destination_addr, data_coding, text)
        self._seen_order: deque[int] = deque()
        self._concat: dict[tuple[str, int, int], set[int]] = {}  # (destination, reference, total) -> seqnums
        self._second = 0
        self._second_count = 0

    def reset(self) -> None:
        """Zero the counters and forget the messages seen (duplicates, concatenation)."""
        self.stats = SimulatorStats()
        self._seen.clear()
        self._seen_order.clear()
        self._concat.clear()

    def bind_status(self, pdu: Any) -> int:
        """The command_status answering a bind (counted)."""
        cfg = self.config
        if pdu.system_id != cfg.system_id:
            status = CommandStatus.ESME_RINVSYSID
        elif cfg.password is not None and pdu.password != cfg.password:
            status = CommandStatus.ESME_RINVPASWD
        else:
            self.stats.binds += 1
            return CommandStatus.ESME_ROK
        self.stats.bind_failures += 1
        return status

    def count_refused(self, pdu: PduBase | None, status: int) -> None:
        """A request the connection refused on its own (not allowed in its bind state), or undecodable (None)."""
        stats = self.stats
        if isinstance(pdu, SubmitSm):
            stats.submits += 1
            stats.rejected += 1
        elif pdu is None:
            stats.invalid_pdus += 1
        elif status == CommandStatus.ESME_RALYBND:
            stats.bind_failures += 1

    def receipt(self, due: ReceiptDue) -> bytes:
        """The receipt deliver_sm now due (counted)."""
        self.stats.receipts_sent += 1
        decimal, tlvs = self.config.receipt_id_format == "decimal", self.config.receipt_tlvs
        return receipt_frame(*due, self._stamp(), decimal_ids=decimal, tlvs=tlvs)

    def answer(self, pdu: SubmitSm) -> tuple[SubmitSmResp, float, ReceiptDue | None]:
        """The submit_sm_resp (counted), after how many seconds, and the receipt to send after dlr_ms more."""
        cfg = self.config
        self.stats.submits += 1
        status = self._status(pdu)
        message_id = "" if status else self._accept(pdu)
        resp = SubmitSmResp(sequence_number=pdu.sequence_number, command_status=status, message_id=message_id)
        jitter = self._rng.uniform(-cfg.latency_jitter_ms, cfg.latency_jitter_ms) if cfg.latency_jitter_ms else 0.0
        delay = max(0.0, (cfg.latency_ms + jitter) / 1000)
        if status or not pdu.registered_delivery & 0x03:
            return resp, delay, None
        undeliv = bool(cfg.undeliv_rate) and self._rng.random() < cfg.undeliv_rate
        if pdu.registered_delivery & 0x03 == 2 and not undeliv:  # 2 = receipt on failure only
            return resp, delay, None
        return resp, delay, (pdu, message_id, undeliv, self._stamp())

    def _status(self, pdu: SubmitSm) -> int:
        """The command_status for a submit_sm from a transmitting bind; counts refusals."""
        cfg = self.config
        if cfg.reject_prefixes and pdu.destination_addr.startswith(cfg.reject_prefixes):
            status = CommandStatus.ESME_RINVDSTADR
        elif cfg.syserr_prefixes and pdu.destination_addr.startswith(cfg.syserr_prefixes):
            status = CommandStatus.ESME_RSYSERR
        elif cfg.tps is not None and not self._take_token(cfg.tps):
            self.stats.throttled += 1
            return CommandStatus.ESME_RTHROTTLED
        else:
            return CommandStatus.ESME_ROK
        self.stats.rejected += 1
        return status

    def _accept(self, pdu: SubmitSm) -> str:
        """Record an accepted submit_sm; returns its message id."""
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
