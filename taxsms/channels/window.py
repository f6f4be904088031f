"""The submit side of one bind: a window of submit_sm taken from the queue shared by every bind.

While the window has room and the bind is not paused, submits are taken from the head of the shared queue
and sent (the Connection numbers them and keeps each with its PendingSubmit until answered). A throttling
answer (ESME_RTHROTTLED, ESME_RMSGQFUL) pauses the bind with growing back-off and puts the submit back; any
other answer is final and resolves its future. A submit unanswered within the response timeout, or when
the link is lost, goes back to the head of the queue to be sent again (maybe by another bind): counted,
since the SMSC may have accepted it already.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from taxsms.channels.link import SmppLink
from taxsms.channels.smpp import THROTTLING_STATUSES, CommandStatus, PduBase, SubmitSmResp
from taxsms.channels.submits import PendingSubmit, SessionConfig, SessionStats, SubmitResult
from taxsms.retry import Backoff

log = logging.getLogger(__name__)


class SubmitWindow:
    def __init__(
        self, config: SessionConfig, queue: deque[PendingSubmit], stats: SessionStats, clock: Callable[[], float]
    ) -> None:
        self._config, self._queue, self._stats, self._clock = config, queue, stats, clock
        self._throttle = Backoff(config.throttle_pause_min, config.throttle_pause_max, jitter=0)
        self._paused_until, self._pause = 0.0, config.throttle_pause_min
        self._resume: asyncio.TimerHandle | None = None

    def pump(self, link: SmppLink, resume: Callable[[], None]) -> None:
        """Send queued submits over `link` (bound) while the window has room; `resume` is called after a pause."""
        queue, connection, window, now = self._queue, link.connection, self._config.window, self._clock()
        if now < self._paused_until:
            if self._resume is None:
                self._resume = asyncio.get_running_loop().call_later(self._paused_until - now, self._resumed, resume)
            return
        outstanding, stats, send = connection.outstanding, self._stats, link.send
        while queue and len(outstanding) < window:
            item = queue.popleft()
            if item.future.done():  # cancelled by its owner while it waited
                continue
            if not item.attempts:
                item.first_sent = now
            item.attempts, item.sent_at = item.attempts + 1, now
            stats.submitted += 1
            send(item.frame, item)

    def room(self, link: SmppLink) -> int:
        """Submits `link` would write now: free window slots, 0 while paused by throttling."""
        if self._clock() < self._paused_until:
            return 0
        return max(0, self._config.window - len(link.connection.outstanding))

    def answered(self, item: PendingSubmit, pdu: PduBase) -> None:
        """A submit_sm_resp (or generic_nack) for `item`."""
        stats = self._stats
        if isinstance(pdu, SubmitSmResp):
            status, message_id = pdu.command_status, pdu.message_id
        else:  # generic_nack
            status, message_id = pdu.command_status or CommandStatus.ESME_RSYSERR, ""
        if status in THROTTLING_STATUSES:  # pause this bind, longer while it goes on, and send it again
            stats.throttled += 1
            if item.sent_at >= self._paused_until:  # not one of those sent before the current pause
                self._pause = self._throttle.next_delay()
            self._paused_until = self._clock() + self._pause
            self._queue.appendleft(item)
            return
        if self._throttle.failures:  # the first answer after throttling: the next pause starts short again
            self._throttle.reset()
        if status == 0:
            stats.accepted += 1
        else:
            stats.rejected += 1
        if not item.future.done():
            item.future.set_result(SubmitResult(status, message_id, self._clock() - item.first_sent))

    def expire(self, link: SmppLink, now: float) -> int:
        """Put back the submits unanswered for response_timeout (fate unknown: a possible duplicate)."""
        limit, connection = now - self._config.response_timeout, link.connection
        expired = [seq for seq, (_, item) in connection.outstanding.items()
                   if isinstance(item, PendingSubmit) and item.sent_at < limit]  # fmt: skip
        self._stats.timeouts += len(expired)
        self._requeue([connection.forget(seq) for seq in expired])
        return len(expired)

    def lost(self, unanswered: list[Any]) -> None:
        """The link is gone: its unanswered submits are sent again (counted as possible duplicates)."""
        submits = [item for item in unanswered if isinstance(item, PendingSubmit)]
        self._stats.resent_after_loss += len(submits)
        self._requeue(submits)

    def _requeue(self, items: list[PendingSubmit]) -> None:
        for item in reversed(items):  # back to the head of the shared queue, in their order
            item.resent = True
            self._queue.appendleft(item)

    def _resumed(self, resume: Callable[[], None]) -> None:
        self._resume = None
        resume()
