"""What the outbox hands a platform sender, and what a sender answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.messages import DirectMessage, Edit, Post, RoleChange, Subject, Webhook

Message = Post | Edit | DirectMessage | RoleChange | Webhook


@dataclass(frozen=True)
class Posted:
    """Where a message is on its platform: channel, message id, and the thread it opened.

    A sender returns it for what it made; the post registry keeps it with the subject.
    """

    channel_id: str
    message_id: str
    thread_id: str | None = None


@dataclass(frozen=True)
class Effect:
    """One side effect as a sender sees it: the neutral message and its platform address.

    ``target`` is the address on this platform (``channel:<id>``, ``user:<id>``,
    ``member:<space>:<user>``, a URL). ``thread`` is the earlier post whose thread a reply
    goes into, and ``original`` the post an edit changes, both found in the post registry.
    ``attempts`` counts the earlier tries that may have reached the platform: failed ones,
    and one cut short by a crash (its lease ran out). A sender whose platform has no
    idempotency key of its own looks for an earlier delivery before sending when it is
    above zero; ``created_at`` bounds that search.
    """

    id: int
    key: str
    platform: str
    action: str
    target: str
    message: Message
    attempts: int
    created_at: datetime | None = None
    thread: Posted | None = None
    original: Posted | None = None


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` sends in any window of ``per_seconds``."""

    count: int
    per_seconds: float


class PermanentFailure(Exception):
    """The effect can never succeed (unknown channel, missing permission, DMs closed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Blocked(Exception):
    """The effect waits on something an owner can fix (the bot's role too low, a missing scope).

    ``reason`` is one sentence an owner can act on. The dispatcher keeps the row pending and
    tries it again slowly, without counting attempts, so it goes through once fixed.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(Exception):
    """The platform asked us to wait (a 429); this does not count as a failed attempt."""

    def __init__(self, retry_after: float, bucket: str | None = None) -> None:
        super().__init__(f"rate limited for {retry_after:.2f}s")
        self.retry_after = retry_after
        self.bucket = bucket


class Sender(Protocol):
    """Delivers effects of one platform."""

    platform: str

    def limits(self, effect: Effect) -> Sequence[tuple[str, RateLimit]]:
        """Return the rate-limit buckets this effect counts against."""

    async def send(self, effect: Effect) -> Posted | None:
        """Deliver the effect; return where the message is (None for a role change)."""


@dataclass(frozen=True)
class Queued:
    """One addressed outbox row to insert: what :func:`bot.outbox.enqueue_many` takes."""

    key: str
    platform: str
    action: str
    target: str
    message: Message
    community_id: int | None = None
    not_before: datetime | None = None
    subject: Subject | None = None
    members: tuple[int, ...] = field(default=())
