"""What happens to messages taxpayers text in (MO): keywords, subscriptions, lookups, the inbox, abuse limits.

`ReplyService` reads the MO stream and enqueues reply jobs; the other modules each hold one piece of it
(`classify` answers a text with a `Command`, its kinds in `taxsms.replies.keywords`).
"""

from taxsms.replies.config import ReplyConfig
from taxsms.replies.inbox import Inbox, Ticket, TicketError, TicketKind
from taxsms.replies.keywords import Command, classify
from taxsms.replies.limits import MoLimiter, Withheld
from taxsms.replies.providers import HttpProvider, InvoiceResult, Lookup, Provider, RedisProvider, StatusResult
from taxsms.replies.service import Outcome, ReplyService
from taxsms.replies.subscriptions import ImportResult, SubscriptionBook, SubscriptionError, SubscriptionRecord

__all__ = [
    "Command",
    "HttpProvider",
    "ImportResult",
    "Inbox",
    "InvoiceResult",
    "Lookup",
    "MoLimiter",
    "Outcome",
    "Provider",
    "RedisProvider",
    "ReplyConfig",
    "ReplyService",
    "StatusResult",
    "SubscriptionBook",
    "SubscriptionError",
    "SubscriptionRecord",
    "Ticket",
    "TicketError",
    "TicketKind",
    "Withheld",
    "classify",
]
