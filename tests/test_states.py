"""The job state machine: every script path walked against the declared table (taxsms/queue/states.py).

Each case puts one job into a state through the real scripts, runs one script path on it (claim, suppress,
each settle outcome, dead letter, release, receipts, receipt timeout) and checks that the job either kept
its state or made a move the table declares. Together the cases must make every declared move, so the table
and the scripts cannot drift apart; undeclared moves are refused, counted and leave the job as it was.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from taxsms.queue.jobs import Job, JobError, Kind, pack_job
from taxsms.queue.keys import Keys
from taxsms.queue.states import FINAL_STATES, TRANSITIONS, State, allowed, lua_table
from taxsms.queue.store import DispatchRules, JobStore, ReceiptUpdate, Settlement, StreamEntry

START = 1_800_000_000.0
TIMEOUT_S = 3600.0
_ids = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Case:
    """One job in one prefix of its own (release and the receipt timeout act on a whole prefix)."""

    def __init__(self, redis: Redis, keys: Keys, *, max_retries: int = 1) -> None:
        self.redis, self.keys, self.clock = redis, keys, Clock()
        rules = DispatchRules(unknown_subscription="send", daily_caps={}, max_retries=max_retries)
        self.store = JobStore(redis, keys, clock=self.clock, rules=rules, receipt_timeout_s=TIMEOUT_S)
        n = next(_ids)
        self.job = Job(id=f"s{n}", kind=Kind.FILING_REMINDER, to=f"139{n:08d}", text="【某市税务局】请按期申报。")
        self.message_id = f"m{n}"
        self.entry = StreamEntry(keys.lane(2), "0-1", self.job.id, pack_job(self.job))

    async def state(self) -> State | None:
        (state,) = await self.store.states([self.job.id])
        return State(state) if state else None

    async def settle(self, outcome: str, **extra: object) -> None:
        e = self.entry
        await self.store.settle(
            [Settlement(self.job.id, e.stream, e.entry_id, outcome, "test", lane=2, payload=e.payload, **extra)]  # type: ignore[arg-type]
        )

    async def put_in(self, state: State | None) -> None:
        """Bring the job into `state` the way production does."""
        if state is None:  # an upstream system pushed it straight into a lane: no record
            entry_id = await self.redis.xadd(self.keys.lane(2), {"job": self.entry.payload})
            self.entry = StreamEntry(self.keys.lane(2), entry_id.decode(), self.job.id, self.entry.payload)
            return
        await self.store.enqueue([self.job])
        ((entry_id, fields),) = await self.redis.xrange(self.keys.lane(2))
        self.entry = StreamEntry(self.keys.lane(2), entry_id.decode(), self.job.id, fields[b"job"])
        steps: dict[State, Callable[[], Awaitable[object]]] = {
            State.QUEUED: lambda: self._noop(),
            State.DELAYED: lambda: self.settle("delayed", release_at=START + 100),
            State.SUBMITTING: lambda: self.store.begin([(self.entry, self.job)]),
            State.EXPIRED: lambda: self.settle("expired"),
            State.SUPPRESSED: lambda: self._suppress(),
            State.DEAD_LETTERED: lambda: self.store.dead_letter([(self.entry, JobError("text", "test"))]),
        }
        if state in steps:
            await steps[state]()
        else:
            await self.store.begin([(self.entry, self.job)])
            if state is State.FAILED:
                await self.settle("failed")
            else:
                await self.settle("submitted", message_ids=[self.message_id])
                if state in (State.DELIVERED, State.UNDELIVERED):
                    await self.receipt(state is State.DELIVERED)
                elif state is State.UNCONFIRMED:
                    await self.time_out()
        assert await self.state() is state

    async def _noop(self) -> None:
        return None

    async def _suppress(self) -> list[bool]:
        await self.redis.hset(self.keys.subscription_state, self.job.to, "0")
        result = await self.store.begin([(self.entry, self.job)])
        await self.redis.hdel(self.keys.subscription_state, self.job.to)
        return result

    async def receipt(self, ok: bool) -> None:
        stat = "DELIVRD" if ok else "UNDELIV"
        await self.store.apply_receipts([ReceiptUpdate(self.message_id, "delivered" if ok else "undelivered", stat)])

    async def time_out(self) -> None:
        self.clock.now += TIMEOUT_S + 1
        await self.store.end_unconfirmed()

    async def release(self) -> None:
        self.clock.now += 200
        await self.store.release_due()


ACTIONS: dict[str, Callable[[Case], Awaitable[object]]] = {
    "claim": lambda c: c.store.begin([(c.entry, c.job)]),
    "suppress": lambda c: c._suppress(),
    "submitted": lambda c: c.settle("submitted", message_ids=[c.message_id]),
    "failed": lambda c: c.settle("failed"),
    "expired": lambda c: c.settle("expired"),
    "rejected": lambda c: c.settle("rejected"),  # the admission gate refused it at send time
    "delayed": lambda c: c.settle("delayed", release_at=START + 100),
    "retry": lambda c: c.settle("retry"),
    "dead letter": lambda c: c.store.dead_letter([(c.entry, JobError("text", "test"))]),
    "release": lambda c: c.release(),
    "delivered receipt": lambda c: c.receipt(True),
    "undelivered receipt": lambda c: c.receipt(False),
    "receipt timeout": lambda c: c.time_out(),
}
STARTS: list[State | None] = [
    None, State.QUEUED, State.DELAYED, State.SUBMITTING, State.SUBMITTED, State.UNCONFIRMED, State.DELIVERED,
    State.UNDELIVERED, State.FAILED, State.EXPIRED, State.SUPPRESSED, State.DEAD_LETTERED,
]  # fmt: skip


async def test_every_script_path_moves_only_as_the_table_says(redis: Redis, keys: Keys) -> None:
    made: set[tuple[State | None, State]] = set()
    for n, (start, (name, action)) in enumerate(itertools.product(STARTS, ACTIONS.items())):
        case = Case(redis, Keys(f"{keys.prefix}-{n}", 1))
        await case.put_in(start)
        await action(case)
        end = await case.state()
        assert end == start or (end is not None and allowed(start, end)), f"{name} moved {start} -> {end}"
        if end != start and end is not None:
            made.add((start, end))
    # A retried job past its last retry is dead-lettered: from submitting only.
    case = Case(redis, Keys(f"{keys.prefix}-exhausted", 1), max_retries=0)
    await case.put_in(State.SUBMITTING)
    await case.settle("retry")
    assert await case.state() is State.DEAD_LETTERED
    made.add((State.SUBMITTING, State.DEAD_LETTERED))

    declared = {(start, to) for start, targets in TRANSITIONS.items() for to in targets}
    # Not script moves: a campaign's approval (taxsms.governance.campaigns enqueues or rejects), and the record
    # a queued job gets when first picked up (adopt(), not a state change: it was counted queued at enqueue).
    outside = {(State.PENDING_APPROVAL, State.QUEUED), (State.PENDING_APPROVAL, State.REJECTED), (None, State.QUEUED)}
    assert declared - outside - made == set(), "declared moves no script path makes"
    assert made - declared == set()
    assert len(made) == len(declared - outside) > 20


@pytest.mark.parametrize(
    ("start", "outcome"), [(None, "submitted"), (State.QUEUED, "submitted"), (State.QUEUED, "failed")]
)
async def test_an_undeclared_move_is_refused_counted_and_logged(
    redis: Redis, keys: Keys, start: State | None, outcome: str
) -> None:
    case = Case(redis, keys)
    await case.put_in(start)
    await case.settle(outcome, message_ids=[case.message_id] if outcome == "submitted" else [])
    assert await case.state() is start  # kept its state
    stats = await case.store.stats()
    assert stats["refused_transitions"] == 1
    assert stats[f"refused:{start.value if start else ''}>{outcome}"] == 1
    counts = await case.store.counts()
    assert counts[outcome] == 0
    assert not await redis.exists(keys.message(case.message_id))  # nothing of the refused move was written
    assert await redis.xlen(keys.events) == 0


def test_final_states_have_no_way_out_but_a_late_receipt() -> None:
    for state in FINAL_STATES:
        expected = {State.DELIVERED, State.UNDELIVERED} if state is State.UNCONFIRMED else set()
        assert TRANSITIONS[state] == expected
    assert set(TRANSITIONS) == {None, *State}


def test_the_lua_table_is_generated_from_the_python_one() -> None:
    lua = lua_table()
    assert "['submitted'] = {delivered = true, unconfirmed = true, undelivered = true}" in lua
    assert "[''] = {" in lua and "local FINAL = {" in lua
    assert lua.count("] = {") == len(TRANSITIONS)
