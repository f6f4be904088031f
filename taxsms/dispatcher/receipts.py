"""The end of the chain: store what the SMSC delivers to us (receipts, taxpayers' MO messages) in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from taxsms.channels.events import MoMessage
from taxsms.channels.smpp import MessageState, Receipt
from taxsms.dispatcher.batcher import BatchWriter
from taxsms.queue.jobs import JobError, normalise_mobile
from taxsms.queue.store import JobStore, ReceiptUpdate

#: Receipt states that are not final (the SMSC will send another receipt later).
INTERIM_STATES = frozenset({MessageState.ENROUTE, MessageState.ACCEPTED})
#: Receipt states that say the message will not be delivered.
FAILED_STATES = frozenset(
    {MessageState.EXPIRED, MessageState.DELETED, MessageState.UNDELIVERABLE, MessageState.REJECTED}
)
MO_STREAM_MAXLEN = 1_000_000


def receipt_update(receipt: Receipt) -> ReceiptUpdate | None:
    """What a receipt means for its job, or None for an interim receipt.

    Only DELIVRD and the states that say the message failed decide a job; UNKNOWN, and a stat word no
    standard knows (e.g. "PWNED"), is recorded on the job as it came (outcome 'unknown'), never taken for
    a failure.
    """
    if receipt.state in INTERIM_STATES:
        return None
    if receipt.state == MessageState.DELIVERED:
        outcome = "delivered"
    elif receipt.state in FAILED_STATES:
        outcome = "undelivered"
    else:
        outcome = "unknown"
    try:
        phone = normalise_mobile(receipt.source) if receipt.source else ""
    except JobError:
        phone = ""
    return ReceiptUpdate(receipt.message_id, outcome, receipt.stat, receipt.error, phone)


class DeliverySink:
    """Callable given to the SMPP channel: stores each event and resolves once it is safely in Redis.

    The channel acknowledges the deliver_sm only then, so a crash before the write makes the SMSC deliver
    the receipt again instead of losing it.
    """

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._writer: BatchWriter[Receipt | MoMessage] = BatchWriter(self._write, name="receipts")
        self.receipts = 0
        self.mo = 0

    def start(self) -> None:
        self._writer.start()

    async def close(self, timeout: float = 10.0) -> None:
        await self._writer.close(timeout)

    def __call__(self, event: Receipt | MoMessage) -> asyncio.Future[None]:
        return self._writer.add(event)

    async def _write(self, events: Sequence[Receipt | MoMessage]) -> None:
        updates = []
        mo = [event for event in events if isinstance(event, MoMessage)]
        for event in events:
            if not isinstance(event, MoMessage):
                update = receipt_update(event)
                if update is not None:
                    updates.append(update)
        if mo:
            async with self._store.redis.pipeline(transaction=False) as pipe:
                for message in mo:
                    fields = {
                        "from": message.source,
                        "to": message.destination,
                        "text": message.text,
                        "at": f"{message.received_at:.3f}",
                    }
                    pipe.xadd(self._store.keys.mo, fields, maxlen=MO_STREAM_MAXLEN, approximate=True)
                await pipe.execute()
        await self._store.apply_receipts(updates)
        self.receipts += sum(1 for e in events if not isinstance(e, MoMessage))
        self.mo += sum(1 for e in events if isinstance(e, MoMessage))
