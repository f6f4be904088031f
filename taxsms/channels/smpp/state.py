"""The SMPP 3.4 bind state machine, declared as tables (like h11's _state.py).

Everything that decides what may be sent or received in which bind state lives here; connection.py only
looks it up. A connection starts OPEN; a bind answered ESME_ROK moves it to BOUND_TX/RX/TRX; unbind, sent
or received, moves it to UNBOUND (only answers go out after it); losing the stream moves it to CLOSED.
"""

from __future__ import annotations

from enum import Enum

from taxsms.channels.smpp.constants import RESPONSE_BIT, CommandId, CommandStatus


class Role(Enum):
    """Which end of the link a connection is."""

    ESME = "esme"
    SMSC = "smsc"


class BindState(Enum):
    OPEN = "open"  # connected, not bound
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBOUND = "unbound"  # unbind sent or received: answers only, then close
    CLOSED = "closed"


OPEN, BOUND_TX, BOUND_RX, BOUND_TRX, UNBOUND, CLOSED = BindState
BOUND = frozenset({BOUND_TX, BOUND_RX, BOUND_TRX})
C = CommandId

#: The requests each role may originate, by bind state (SMPP 3.4 section 2.3, table 2-1). enquire_link is
#: also allowed while OPEN, as SMPP 5.0 allows and SMSCs accept. Responses are not listed: a request received
#: may be answered in any state but CLOSED (see connection.py), generic_nack likewise.
REQUESTS: dict[Role, dict[BindState, frozenset[int]]] = {
    Role.ESME: {
        OPEN: frozenset({C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER, C.ENQUIRE_LINK}),
        BOUND_TX: frozenset({C.SUBMIT_SM, C.ENQUIRE_LINK, C.UNBIND}),
        BOUND_RX: frozenset({C.ENQUIRE_LINK, C.UNBIND}),
        BOUND_TRX: frozenset({C.SUBMIT_SM, C.ENQUIRE_LINK, C.UNBIND}),
        UNBOUND: frozenset(),
        CLOSED: frozenset(),
    },
    Role.SMSC: {
        OPEN: frozenset({C.ENQUIRE_LINK}),
        BOUND_TX: frozenset({C.ENQUIRE_LINK, C.UNBIND}),
        BOUND_RX: frozenset({C.DELIVER_SM, C.ENQUIRE_LINK, C.UNBIND}),
        BOUND_TRX: frozenset({C.DELIVER_SM, C.ENQUIRE_LINK, C.UNBIND}),
        UNBOUND: frozenset(),
        CLOSED: frozenset(),
    },
}

#: A bind answered ESME_ROK moves OPEN to its bound state (the bind's response is what triggers it).
BIND_TARGETS: dict[int, BindState] = {
    C.BIND_TRANSMITTER: BOUND_TX,
    C.BIND_RECEIVER: BOUND_RX,
    C.BIND_TRANSCEIVER: BOUND_TRX,
}

#: Requests that move the state as soon as they are sent or received, whatever the answer.
REQUEST_TARGETS: dict[int, BindState] = {C.UNBIND: UNBOUND}

#: Requests the receiving connection answers ESME_ROK on its own.
ANSWERED_BY_CONNECTION = frozenset({C.ENQUIRE_LINK, C.UNBIND})

#: Every request a role ever originates: anything else it sends is answered ESME_RINVCMDID.
_EVER: dict[Role, frozenset[int]] = {role: frozenset().union(*table.values()) for role, table in REQUESTS.items()}


def after_answer(state: BindState, request: int, response: int, status: int) -> BindState:
    """The state once `request` is answered by `response` with `status`: only a bind's own ESME_ROK moves it."""
    if state is OPEN and status == 0 and response == request | RESPONSE_BIT and request in BIND_TARGETS:
        return BIND_TARGETS[request]
    return state


def peer_of(role: Role) -> Role:
    return Role.SMSC if role is Role.ESME else Role.ESME


def refusal_status(sender: Role, state: BindState, command_id: int) -> int:
    """The command_status answering a request `sender` may not send in `state`."""
    if command_id not in _EVER[sender]:
        return CommandStatus.ESME_RINVCMDID
    if command_id in BIND_TARGETS and state in BOUND:
        return CommandStatus.ESME_RALYBND
    return CommandStatus.ESME_RINVBNDSTS
