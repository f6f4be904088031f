"""What the simulated SMSC is told to do (SimulatorConfig) and what it counts (SimulatorStats)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal


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
