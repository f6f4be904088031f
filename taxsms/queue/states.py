"""The job state machine, declared once: the states and every move between them that may happen.

Like h11's `_state.py`, this table is the only definition. The Lua scripts that move jobs get it generated
into their source (`lua_table()`, prepended by `taxsms.queue.store.load_script`), and their `set_state`
refuses any move it does not list: the job keeps its state, the refusal is counted in the stats hash
(`refused_transitions`, and `refused:<from>><to>`) and logged in the Redis log. `None` is "no record yet":
an entry an upstream system pushed straight into a lane, or a job enqueued but not yet picked up.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class State(StrEnum):
    """Job states, in the order a job normally passes through them."""

    PENDING_APPROVAL = "pending_approval"  # a campaign's jobs before approval (kept outside the streams)
    QUEUED = "queued"
    DELAYED = "delayed"  # waiting for its send window, not_before or a retry
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"  # accepted by the SMSC, waiting for its delivery receipt
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    UNCONFIRMED = "unconfirmed"  # no receipt within its validity (receipt_timeout_s); a late one still counts
    FAILED = "failed"
    EXPIRED = "expired"
    SUPPRESSED = "suppressed"  # not sent on purpose: unsubscribed, per-recipient cap, quota
    REJECTED = "rejected"  # refused by approval or content review
    DEAD_LETTERED = "dead_lettered"


FINAL_STATES = frozenset(
    {
        State.DELIVERED,
        State.UNDELIVERED,
        State.UNCONFIRMED,
        State.FAILED,
        State.EXPIRED,
        State.SUPPRESSED,
        State.REJECTED,
        State.DEAD_LETTERED,
    }
)

# What admission may decide about a job that is not out yet (begin.lua claims or suppresses it; settle.lua
# records a hold, an expiry, the gate's refusal or a dead letter).
_NOT_SENT = frozenset(
    {State.SUBMITTING, State.SUPPRESSED, State.DELAYED, State.EXPIRED, State.REJECTED, State.DEAD_LETTERED}
)
_RECEIPTS = frozenset({State.DELIVERED, State.UNDELIVERED})

#: state -> the states it may move to. Final states have no way out, except that a receipt arriving after
#: the receipt timeout still tells what became of an `unconfirmed` message.
TRANSITIONS: Mapping[State | None, frozenset[State]] = {
    None: _NOT_SENT | {State.QUEUED},  # QUEUED: a record created when a worker picks the job up
    State.PENDING_APPROVAL: frozenset({State.QUEUED, State.REJECTED}),  # a campaign approved or rejected
    State.QUEUED: _NOT_SENT,
    State.DELAYED: _NOT_SENT - {State.DELAYED} | {State.QUEUED},  # QUEUED: released into its lane
    State.SUBMITTING: _NOT_SENT - {State.SUBMITTING} | {State.SUBMITTED, State.FAILED},
    State.SUBMITTED: _RECEIPTS | {State.UNCONFIRMED},
    State.UNCONFIRMED: _RECEIPTS,
    **{state: frozenset() for state in sorted(FINAL_STATES - {State.UNCONFIRMED})},
}

#: States whose receipts may still change them (a receipt for any other is late and only recorded).
AWAITING_RECEIPT = frozenset({State.SUBMITTED, State.UNCONFIRMED})


def allowed(current: State | None, to: State) -> bool:
    """Whether a job in `current` may move to `to`."""
    return to in TRANSITIONS[current]


def _lua_set(states: frozenset[State]) -> str:
    return "{" + ", ".join(f"{state.value} = true" for state in sorted(states)) + "}"


def lua_table() -> str:
    """The table as Lua source: FINAL, AWAITING_RECEIPT and TRANSITIONS (the key '' is "no record")."""
    moves = ",\n  ".join(
        f"[{(current.value if current else '')!r}] = {_lua_set(targets)}" for current, targets in TRANSITIONS.items()
    )
    return (
        "-- Generated from taxsms/queue/states.py: edit the table there, never here.\n"
        f"local FINAL = {_lua_set(FINAL_STATES)}\n"
        f"local AWAITING_RECEIPT = {_lua_set(AWAITING_RECEIPT)}\n"
        f"local TRANSITIONS = {{\n  {moves}\n}}\n"
    )
