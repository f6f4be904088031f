"""When a session binds again: back-off with jitter after a lost link, minutes after a bind refused for its
credentials (retrying soon would not help and may lock the account), each refusal logged once per change."""

from __future__ import annotations

import logging

from taxsms.channels import smpp
from taxsms.channels.smpp import BIND_CREDENTIAL_STATUSES
from taxsms.channels.submits import SessionConfig
from taxsms.retry import Backoff

log = logging.getLogger("taxsms.channels.session")  # the session's log, where ops look for bind trouble


class BindError(ConnectionError):
    """The SMSC refused our bind."""

    def __init__(self, status: int) -> None:
        self.status, self.name = status, smpp.status_name(status)
        super().__init__(f"bind refused: {self.name}")


class Rebinding:
    """The waits between one session's connection attempts, and what it logs about refused binds."""

    def __init__(self, config: SessionConfig, name: str) -> None:
        self._config, self._name = config, name
        self._reconnect = Backoff(config.reconnect_min, config.reconnect_max)
        self._refused = Backoff(config.bind_refused_retry_min, config.bind_refused_retry_max)
        self._refusal: int | None = None  # the bind refusal last logged: logged again only when it changes
        self.next = self._reconnect  # what the next wait is

    def bound(self) -> str:
        """The bind succeeded: waits start small again; ' (after refusals)' if the last attempt was refused."""
        self._reconnect.reset()
        self._refused.reset()
        again = " (after refusals)" if self._refusal is not None else ""
        self._refusal = None
        return again

    def lost(self) -> None:
        self.next = self._reconnect

    def refused(self, error: BindError) -> None:
        cfg = self._config
        self.next = self._refused if error.status in BIND_CREDENTIAL_STATUSES else self._reconnect
        if error.status != self._refusal:  # logged once per change, not at every retry
            self._refusal = error.status
            log.error("%s: bind to %s:%s as %r refused: %s; retrying with back-off to %.0f s", self._name,
                      cfg.host, cfg.port, cfg.system_id, error.name, self.next.maximum)  # fmt: skip
