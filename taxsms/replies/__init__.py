"""What happens to messages taxpayers text in (MO): keywords, subscriptions, lookups, the inbox, abuse limits.

`ReplyService` reads the MO stream and enqueues reply jobs; the other modules each hold one piece of it.
"""

from taxsms.replies.config import ReplyConfig
from taxsms.replies.inbox import Inbox, Ticket, TicketError, TicketKind
from taxsms.replies.keywords import (
    Command,
    FreeText,
    InvoiceCheck,
    InvoiceHelp,
    StatusHelp,
    StatusQuery,
    Subscribe,
    Unsubscribe,
    classify,
)
from taxsms.replies.limits import MoLimiter, Withheld
from taxsms.replies.providers import HttpProvider, InvoiceResult, Lookup, Provider, RedisProvider, StatusResult
from taxsms.replies.service import Outcome, ReplyService
from taxsms.replies.subscriptions import ImportResult, SubscriptionBook, SubscriptionError, SubscriptionRecord

__all__ = [
    "Command",
    "FreeText",
    "HttpProvider",
    "ImportResult",
    "Inbox",
    "InvoiceCheck",
    "InvoiceHelp",
    "InvoiceResult",
    "Lookup",
    "MoLimiter",
    "Outcome",
    "Provider",
    "RedisProvider",
    "ReplyConfig",
    "ReplyService",
    "StatusHelp",
    "StatusQuery",
    "StatusResult",
    "Subscribe",
    "SubscriptionBook",
    "SubscriptionError",
    "SubscriptionRecord",
    "Ticket",
    "TicketError",
    "TicketKind",
    "Unsubscribe",
    "Withheld",
    "classify",
]
