"""Ending an asyncio task for sure: cancel it, and cancel again while it runs on.

On Python 3.11 a cancellation can be lost: `asyncio.wait_for` returns its inner result when that finished in
the same loop iteration as the cancel (cpython gh-86296, fixed in 3.12), and redis-py sends every command
through `wait_for` once `socket_timeout` is set (its default is 5 s). A task cancelled in the middle of a
Redis call then goes on as if nothing happened; a loop in it runs for ever, and so does whatever awaits it
(asyncio's own shutdown included). `cancel_and_wait` repeats the cancel until the task has ended: a loop that
awaits anything else between its Redis calls (a sleep, an event) ends at the first or second cancel.
"""

from __future__ import annotations

import asyncio

RECANCEL_S = 0.05  # how long to wait for a cancelled task before cancelling it again


async def cancel_and_wait(task: asyncio.Task[object], *, recancel_s: float = RECANCEL_S) -> None:
    """Cancel `task` until it has ended; raise its error if it ended with one (other than its cancellation)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=recancel_s)
    if not task.cancelled():
        task.result()
