"""Where the simulated SMSC's deliver_sm go: like a real SMSC, it never drops one.

A receipt goes over the bind its submit came from while that bind still receives, else round robin over the
receiving binds, else into an outbox until a receiver binds. One unacknowledged at a disconnect, or answered
with an error status, is delivered again.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

Outgoing = tuple[bytes, bool]  # an encoded deliver_sm (sequence number 0) and whether it is a receipt (else MO)


class Receiver(Protocol):
    @property
    def receiving(self) -> bool: ...

    def deliver(self, outgoing: Outgoing) -> None: ...


class DeliveryRouter:
    """The receiving binds, in bind order, and the deliver_sm waiting for one."""

    def __init__(self) -> None:
        self._receivers: list[Receiver] = []
        self._rr = 0  # round-robin position
        self._outbox: deque[Outgoing] = deque()

    def add(self, receiver: Receiver) -> None:
        """A receiver or transceiver bound: it takes what waited in the outbox."""
        self._receivers.append(receiver)
        while self._outbox:
            receiver.deliver(self._outbox.popleft())

    def remove(self, receiver: Receiver) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def next(self) -> Receiver | None:
        """The next receiving bind, round robin (None when there is none)."""
        receivers = [receiver for receiver in self._receivers if receiver.receiving]
        if not receivers:
            return None
        self._rr = (self._rr + 1) % len(receivers)
        return receivers[self._rr]

    def deliver(self, outgoing: Outgoing, prefer: Receiver | None = None) -> None:
        receiver = prefer if prefer is not None and prefer.receiving else self.next()
        if receiver is None:
            self._outbox.append(outgoing)
        else:
            receiver.deliver(outgoing)
