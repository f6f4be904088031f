"""What one worker process is told (WorkerConfig), with the defaults taxsms.settings declares.

`Settings.worker_config()` builds it from the settings file, the environment and the flags; tests, the demo
and the benches build it directly. Either way a default is the one declared once in taxsms/settings.py.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from taxsms import commalist
from taxsms.channels.session import SessionConfig
from taxsms.dispatcher.windows import WindowPolicy
from taxsms.holidays import PACKAGE, Calendar
from taxsms.queue.store import DispatchRules
from taxsms.settings import Settings

_TOP = Settings()
_SMPP, _WORKER = _TOP.smpp, _TOP.worker


@dataclass(slots=True)
class WorkerConfig:
    """Everything one worker process needs (see taxsms.settings for what each value means)."""

    redis_url: str = _TOP.redis_url
    prefix: str = _TOP.prefix
    smsc_host: str = _SMPP.host
    smsc_port: int = _SMPP.port
    system_id: str = _SMPP.system_id
    password: str = _SMPP.password
    window: int = _SMPP.window
    binds: int = _SMPP.binds
    batch: int = _WORKER.batch
    block_ms: int = _WORKER.block_ms
    source_addr: str = _SMPP.source_addr
    consumer: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    response_timeout: float = _SMPP.response_timeout
    enquire_link_interval: float = _SMPP.enquire_link_interval
    bind_refused_retry_min: float = _SMPP.bind_refused_retry_min
    bind_refused_retry_max: float = _SMPP.bind_refused_retry_max
    mo_max_pending: int = _SMPP.mo_max_pending
    mo_max_pending_bytes: int = _SMPP.mo_max_pending_bytes
    claim_idle_s: float = _WORKER.claim_idle_s
    handback_after_s: float = _WORKER.handback_after_s
    message_id_ttl: int = _WORKER.message_id_ttl
    record_ttl_days: float = _WORKER.record_ttl_days
    receipt_timeout_s: float = _WORKER.receipt_timeout_s
    dead_letter_maxlen: int = _WORKER.dead_letter_maxlen
    dead_letter_payload_bytes: int = _WORKER.dead_letter_payload_bytes
    orphan_receipts_max: int = _WORKER.orphan_receipts_max
    # flow control
    tps: float = _SMPP.tps
    link: str = _SMPP.link
    send_window: str = _TOP.send_window
    days_off: bool = _TOP.days_off
    kind_windows: str = _TOP.kind_windows
    calendar_file: str = _TOP.calendar_file
    subscription_kinds: str = _WORKER.subscription_kinds
    unknown_subscription: str = _WORKER.unknown_subscription
    daily_caps: str = _WORKER.daily_caps
    quota_kinds: str = _WORKER.quota_kinds
    max_retries: int = _WORKER.max_retries
    retry_base_s: float = _WORKER.retry_base_s
    retry_max_s: float = _WORKER.retry_max_s
    release_interval_s: float = _WORKER.release_interval_s
    max_deliveries: int = _WORKER.max_deliveries
    buffer: int = _WORKER.buffer
    reply_share: float = _WORKER.reply_share
    stop_timeout_s: float = _WORKER.stop_timeout_s

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            host=self.smsc_host,
            port=self.smsc_port,
            system_id=self.system_id,
            password=self.password,
            window=self.window,
            response_timeout=self.response_timeout,
            enquire_link_interval=self.enquire_link_interval,
            bind_refused_retry_min=self.bind_refused_retry_min,
            bind_refused_retry_max=self.bind_refused_retry_max,
            mo_max_pending=self.mo_max_pending,
            mo_max_pending_bytes=self.mo_max_pending_bytes,
        )

    def rules(self) -> DispatchRules:
        return DispatchRules(
            subscription_kinds=commalist.names(self.subscription_kinds),
            unknown_subscription=self.unknown_subscription,
            daily_caps=commalist.pairs(self.daily_caps),
            quota_kinds=commalist.names(self.quota_kinds),
            retry_base_s=self.retry_base_s,
            retry_max_s=self.retry_max_s,
            max_retries=self.max_retries,
        )

    def windows(self) -> WindowPolicy:
        calendar = Calendar.load(self.calendar_file) if self.calendar_file else PACKAGE
        return WindowPolicy.build(
            self.send_window, days_off=self.days_off, overrides=self.kind_windows, calendar=calendar
        )

    @property
    def link_name(self) -> str:
        return self.link or f"{self.smsc_host}:{self.smsc_port}:{self.system_id}"
