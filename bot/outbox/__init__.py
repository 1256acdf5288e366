"""The outbox: every side effect that leaves the process, written with its cause, sent once.

A feature never talks to a platform directly. It builds a neutral message
(:mod:`bot.messages`) and calls :func:`send` inside its own transaction with a unique key;
:mod:`bot.outbox.queue` addresses it to each platform, :class:`Dispatcher` delivers it
paced and exactly once, and :mod:`bot.outbox.registry` remembers what each delivered
message is about.
"""

from bot.outbox.dispatcher import Dispatcher
from bot.outbox.effects import (
    Blocked,
    Effect,
    Message,
    PermanentFailure,
    Posted,
    Queued,
    RateLimit,
    RetryLater,
    Sender,
)
from bot.outbox.limits import RateLimiter
from bot.outbox.queue import Outgoing, enqueue_many, send, send_many

__all__ = [
    "Blocked",
    "Dispatcher",
    "Effect",
    "Message",
    "Outgoing",
    "PermanentFailure",
    "Posted",
    "Queued",
    "RateLimit",
    "RateLimiter",
    "RetryLater",
    "Sender",
    "enqueue_many",
    "send",
    "send_many",
]
