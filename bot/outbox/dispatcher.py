"""The dispatcher: claims due outbox rows, paces them, sends them once, records them.

The :class:`Dispatcher` claims due rows (a lease, so a crashed dispatcher's work is taken
up again), reads each row's effect back (a row it cannot read is dead-lettered with the
reason), finds the earlier post a reply or an edit refers to in the post registry, paces
the effect per target with a :class:`RateLimiter` the platform senders configure, sends
it, and marks it sent while recording where the message went — or retries it with
backoff, or dead-letters it with a reason an owner can read.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.engine import read_sessions_like
from bot.db.hooks import Wakeups
from bot.events import Event, publish
from bot.messages import DirectMessage, Edit, Post, RoleChange, Subject, UnreadableEffect, load
from bot.models import OutboxMessage
from bot.outbox import registry
from bot.outbox.access import blocked_event, blocked_wait, superseded
from bot.outbox.effects import (
    Blocked,
    Effect,
    Message,
    PermanentFailure,
    Posted,
    RetryLater,
    Sender,
)
from bot.outbox.limits import RateLimiter
from bot.settings import OutboxSettings

log = logging.getLogger(__name__)

# Statuses of a row a dispatcher holds under a lease: claimed in a batch, then being sent.
LEASED = ("claimed", "sending")
# Waits up to this long are slept through in place; longer ones defer the row so that
# other targets keep moving.
INLINE_WAIT_SECONDS = 1.0
# A reply or an edit whose earlier post is still queued waits this long and looks again.
REFERENCE_WAIT_SECONDS = 2.0
# ... for at most this long after it was queued.
REFERENCE_PATIENCE = timedelta(hours=1)


class _Deferred(Exception):
    """The row cannot go yet (what it refers to is still queued); not a failed attempt."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"deferred for {seconds}s")
        self.seconds = seconds


class _Superseded(Exception):
    """A newer change of the same access for the same member was queued: this one is moot."""


class Dispatcher:
    """Drains the outbox through the registered senders."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: OutboxSettings,
        senders: Iterable[Sender] = (),
    ) -> None:
        self._sessions = sessions
        self._reads = read_sessions_like(sessions)  # no write lock to look (SQLite)
        self._clock = clock
        self._settings = settings
        self._senders: dict[str, Sender] = {}
        self.limiter = RateLimiter(clock)
        self._wakeup = Wakeups(settings.settle_seconds)
        for sender in senders:
            self.register(sender)

    def register(self, sender: Sender) -> None:
        """Deliver this platform's effects through ``sender``."""
        self._senders[sender.platform] = sender

    async def close(self) -> None:
        """Close the senders that hold connections."""
        for sender in self._senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                await close()

    def wake(self) -> None:
        """Tell the loop there may be new rows."""
        self._wakeup.set()

    def _due(self, now: datetime) -> Any:
        return and_(
            OutboxMessage.platform.in_(list(self._senders)),
            or_(
                and_(OutboxMessage.status == "pending", OutboxMessage.not_before <= now),
                and_(OutboxMessage.status.in_(LEASED), OutboxMessage.lease_until <= now),
            ),
        )

    async def _claim(self, limit: int) -> list[OutboxMessage]:
        now = self._clock.now()
        token = secrets.token_hex(8)
        due = self._due(now)
        async with self._sessions() as session, session.begin():
            candidates = (
                select(OutboxMessage.id)
                .where(due)
                .order_by(OutboxMessage.not_before, OutboxMessage.id)
                .limit(limit)
                .scalar_subquery()
            )
            # The WHERE is repeated on the outer UPDATE: under PostgreSQL's READ COMMITTED a
            # row another dispatcher claimed meanwhile is re-checked and skipped.
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(candidates), due)
                .values(
                    # A row whose lease ran out while "sending" was being sent when its
                    # dispatcher died: that try may have reached the platform, so it counts
                    # (Effect.attempts). A "claimed" one was never tried.
                    attempts=OutboxMessage.attempts
                    + case((OutboxMessage.status == "sending", 1), else_=0),
                    status="claimed",
                    claim_token=token,
                    lease_until=now + timedelta(seconds=self._settings.lease_seconds),
                )
                .execution_options(synchronize_session=False)
            )
            rows = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.claim_token == token)
                .order_by(OutboxMessage.not_before, OutboxMessage.id)
            )
            return list(rows.all())

    async def _finish(
        self,
        row: OutboxMessage,
        following: OutboxMessage | None = None,
        *,
        delivered: tuple[Effect, Posted] | None = None,
        event: Event | None = None,
        **values: Any,
    ) -> bool:
        """Record how a row ended and, in the same commit, mark the next one as being sent.

        A delivered post or DM is entered in the post registry in that commit too, and
        ``event`` is published in it. Return whether ``following`` is now "sending" (still
        held by this batch).
        """
        async with self._sessions() as session, session.begin():
            if delivered is not None:
                await self._register(session, row, *delivered)
            updated = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claim_token == row.claim_token)
                .values(claim_token=None, lease_until=None, **values)
            )
            if event is not None and updated.rowcount:  # type: ignore[attr-defined]
                await publish(session, self._clock, event)
            if following is None:
                return False
            return await self._mark_sending(session, following)

    @staticmethod
    async def _mark_sending(session: AsyncSession, row: OutboxMessage) -> bool:
        result = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row.id,
                OutboxMessage.claim_token == row.claim_token,
                OutboxMessage.status == "claimed",
            )
            .values(status="sending")
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _start(self, row: OutboxMessage) -> bool:
        """Mark a claimed row as being sent, in its own commit; False if it is no longer ours."""
        async with self._sessions() as session, session.begin():
            return await self._mark_sending(session, row)

    async def dispatch_due(self, limit: int = 100) -> int:
        """Send what is due now, once; return how many effects were delivered.

        A row is marked "sending" in a commit before its send: the one that finishes the row
        before it, so no send costs an extra round trip. After a crash, only that row's try
        counts as an attempt; the rest of the batch was never tried.
        """
        if not self._senders:
            return 0
        rows = await self._claim(limit)
        delivered = 0
        # Pacing can make a batch outlast its lease; renewed halfway, it stays this process's,
        # and a row whose renewal came too late (another dispatcher took it) is left alone.
        half_lease = timedelta(seconds=self._settings.lease_seconds / 2)
        renew_at = self._clock.now() + half_lease
        ours = {row.id for row in rows}
        started = False
        for index, row in enumerate(rows):
            if self._clock.now() >= renew_at:
                ours = await self._renew(row.claim_token)
                renew_at = self._clock.now() + half_lease
            if row.id not in ours or not (started or await self._start(row)):
                started = False
                continue
            following = rows[index + 1] if index + 1 < len(rows) else None
            sent, started = await self._dispatch_one(row, following)
            delivered += sent
        return delivered

    async def _renew(self, token: str | None) -> set[int]:
        """Extend the lease of a batch's unsent rows; return the ids still held."""
        until = self._clock.now() + timedelta(seconds=self._settings.lease_seconds)
        async with self._sessions() as session, session.begin():
            held = await session.scalars(
                update(OutboxMessage)
                .where(OutboxMessage.claim_token == token, OutboxMessage.status.in_(LEASED))
                .values(lease_until=until)
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
            return set(held.all())

    async def _dispatch_one(
        self, row: OutboxMessage, following: OutboxMessage | None = None
    ) -> tuple[int, bool]:
        """Send one row that is marked "sending"; return (delivered, following started)."""
        if row.attempts >= self._settings.max_attempts:
            # Only tries cut short get here (a failed one is dead-lettered as it fails): the
            # process kept stopping while sending this row, so it may be what stops it.
            log.warning("outbox %s dead: %d tries were cut short", row.key, row.attempts)
            started = await self._finish(
                row,
                following,
                status="dead",
                last_error=(
                    f"gave up after {row.attempts} attempts; the process stopped while sending "
                    "it each time (a crash or a kill mid-send)"
                ),
            )
            return 0, started
        sender = self._senders[row.platform]
        try:
            effect = await self._effect(row)
        except _Deferred as deferred:
            started = await self._finish(
                row,
                following,
                status="pending",
                not_before=self._clock.now() + timedelta(seconds=deferred.seconds),
            )
            return 0, started
        except _Superseded:
            return 0, await self._drop(row, following)
        except (UnreadableEffect, PermanentFailure) as exc:
            log.warning("outbox %s dead-lettered: %s", row.key, exc.reason)
            started = await self._finish(
                row,
                following,
                status="dead",
                attempts=row.attempts + 1,
                last_error=exc.reason,
                blocked_at=None,
            )
            return 0, started
        limits = sender.limits(effect)
        wait = self.limiter.reserve(limits)
        while 0 < wait <= INLINE_WAIT_SECONDS:
            await self._clock.sleep(wait)
            wait = self.limiter.reserve(limits)
        if wait > 0:
            started = await self._finish(
                row,
                following,
                status="pending",
                not_before=self._clock.now() + timedelta(seconds=wait),
            )
            return 0, started
        try:
            delivered = await sender.send(effect)
        except RetryLater as exc:
            if exc.bucket:
                self.limiter.block(exc.bucket, exc.retry_after)
            started = await self._finish(
                row,
                following,
                status="pending",
                not_before=self._clock.now() + timedelta(seconds=exc.retry_after),
            )
            return 0, started
        except Blocked as exc:
            return 0, await self._blocked(row, following, effect, exc.reason)
        except PermanentFailure as exc:
            log.warning("outbox %s dead-lettered: %s", row.key, exc.reason)
            started = await self._finish(
                row,
                following,
                status="dead",
                attempts=row.attempts + 1,
                last_error=exc.reason,
                blocked_at=None,
            )
            return 0, started
        except Exception as exc:
            attempts = row.attempts + 1
            reason = f"{type(exc).__name__}: {exc}"[:2000]
            if attempts >= self._settings.max_attempts:
                log.warning("outbox %s dead after %d attempts: %s", row.key, attempts, reason)
                started = await self._finish(
                    row,
                    following,
                    status="dead",
                    attempts=attempts,
                    last_error=f"gave up after {attempts} attempts; last error: {reason}",
                    blocked_at=None,
                )
            else:
                delay = min(
                    self._settings.backoff_base_seconds * 2 ** (attempts - 1),
                    self._settings.backoff_max_seconds,
                ) * random.uniform(0.8, 1.2)
                log.info(
                    "outbox %s failed (attempt %d), retrying in %.1fs", row.key, attempts, delay
                )
                started = await self._finish(
                    row,
                    following,
                    status="pending",
                    attempts=attempts,
                    last_error=reason,
                    blocked_at=None,
                    not_before=self._clock.now() + timedelta(seconds=delay),
                )
            return 0, started
        started = await self._finish(
            row,
            following,
            delivered=(effect, delivered) if delivered is not None else None,
            status="sent",
            attempts=row.attempts + 1,
            sent_at=self._clock.now(),
            external_id=delivered.message_id if delivered else None,
            last_error=None,
            blocked_at=None,
        )
        return 1, started

    async def _blocked(
        self, row: OutboxMessage, following: OutboxMessage | None, effect: Effect, reason: str
    ) -> bool:
        """Keep a blocked row pending and retry it slowly; tell the owner when it is news.

        The first block, or a block for a new reason, publishes ``access.blocked`` (for a
        role change) in the commit that records it; the same block again publishes nothing.
        """
        now = self._clock.now()
        reason = reason[:2000]
        news = row.blocked_at is None or row.last_error != reason
        since = now if news or row.blocked_at is None else row.blocked_at
        wait = blocked_wait(now - since)
        if news:
            log.warning("outbox %s blocked: %s", row.key, reason)
        else:
            log.info("outbox %s still blocked; next try in %s", row.key, wait)
        event = blocked_event(row, effect.message, reason) if news else None
        return await self._finish(
            row,
            following,
            event=event,
            status="pending",
            last_error=reason,
            blocked_at=since,
            not_before=now + wait,
        )

    async def _effect(self, row: OutboxMessage) -> Effect:
        """Read a row's effect back and find the earlier post it replies in or edits."""
        try:
            message: Message = load(row.payload)
        except UnreadableEffect as exc:
            raise UnreadableEffect(f"cannot read the stored effect: {exc.reason}") from None
        thread = original = None
        if isinstance(message, RoleChange):
            async with self._sessions() as session:
                if await superseded(session, row, message):
                    raise _Superseded
        if isinstance(message, Post) and message.reply_to is not None:
            async with self._sessions() as session:
                thread = await registry.post_about(session, message.reply_to, row.platform)
                if thread is None and await self._worth_waiting(session, row, message.reply_to):
                    raise _Deferred(REFERENCE_WAIT_SECONDS)
            # Nothing was posted about it (refused, cancelled): post in the channel.
        if isinstance(message, Edit):
            async with self._sessions() as session:
                original = await registry.post_about(session, message.subject, row.platform)
                if original is None:
                    if await self._worth_waiting(session, row, message.subject):
                        raise _Deferred(REFERENCE_WAIT_SECONDS)
                    raise PermanentFailure(
                        f"there is no post about {message.subject.kind} {message.subject.id} "
                        f"on {row.platform} to edit"
                    )
        return Effect(
            id=row.id,
            key=row.key,
            platform=row.platform,
            action=row.action,
            target=row.target,
            message=message,
            attempts=row.attempts,
            created_at=row.created_at,
            thread=thread,
            original=original,
        )

    async def _drop(self, row: OutboxMessage, following: OutboxMessage | None) -> bool:
        """Delete a superseded row (as cancelling does) and mark the next one as being sent."""
        log.info("outbox %s superseded by a newer change of the same access", row.key)
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.id == row.id, OutboxMessage.claim_token == row.claim_token
                )
            )
            if following is None:
                return False
            return await self._mark_sending(session, following)

    async def _worth_waiting(
        self, session: AsyncSession, row: OutboxMessage, subject: Subject
    ) -> bool:
        """Return whether the post a row refers to is still to be sent, and not for too long."""
        if self._clock.now() - row.created_at > REFERENCE_PATIENCE:
            return False  # it is not coming (a paused platform, a stuck sender): go without
        return await registry.waiting_about(session, subject, row.platform)

    async def _register(
        self, session: AsyncSession, row: OutboxMessage, effect: Effect, delivered: Posted
    ) -> None:
        message = effect.message
        if not isinstance(message, Post | DirectMessage) or message.about is None:
            return  # nothing will ever ask what it is about
        recipient = message.member_id if isinstance(message, DirectMessage) else None
        await registry.record(
            session,
            self._clock,
            effect=effect,
            delivered=delivered,
            community_id=row.community_id,
            subject=message.about,
            member_id=recipient,
            claim_token=row.claim_token,
        )

    async def next_due_in(self, *, blocked: bool = True) -> float | None:
        """Return seconds until the next row for our senders is due, or None if none waits.

        ``blocked=False`` leaves out rows blocked on something an owner must fix.
        """
        mine = OutboxMessage.platform.in_(list(self._senders))
        waiting = OutboxMessage.status == "pending"
        if not blocked:
            waiting = and_(waiting, OutboxMessage.blocked_at.is_(None))
        # Two lookups in one statement, each served by (platform, status, not_before).
        pending = select(func.min(OutboxMessage.not_before)).where(mine, waiting)
        leased = select(func.min(OutboxMessage.lease_until)).where(
            mine, OutboxMessage.status.in_(LEASED)
        )
        async with self._reads() as session:
            found = (
                await session.execute(select(pending.scalar_subquery(), leased.scalar_subquery()))
            ).one()
        times: list[datetime] = [when for when in found if when is not None]
        if not times:
            return None
        return max(0.0, (min(times) - self._clock.now()).total_seconds())

    async def drain(self, max_passes: int = 10_000) -> int:
        """Send until nothing is pending, sleeping on the clock for deferred rows (tests, demo).

        Rows blocked on an owner's fix (``Blocked``) are left waiting: they would not go
        however long it slept.
        """
        delivered = 0
        for _ in range(max_passes):
            sent = await self.dispatch_due()
            delivered += sent
            wait = await self.next_due_in(blocked=False)
            if wait is None:
                return delivered
            if not sent:
                # Timestamps are stored at microsecond precision; never spin on a zero wait.
                await self._clock.sleep(max(wait, 0.001))
        raise RuntimeError("outbox did not drain; a sender keeps deferring")

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set, waking on commits and at the next due time."""
        while not stop.is_set():
            self._wakeup.starting()
            wait: float | None
            try:
                # Look first (a read, no write lock): most wakes are commits that queued
                # nothing for this process's senders.
                wait = await self.next_due_in()
                if wait == 0:
                    if await self.dispatch_due():
                        continue
                    wait = await self.next_due_in()
            except Exception:
                log.exception("outbox pass failed; retrying")
                wait = self._settings.poll_seconds
            poll = self._settings.poll_seconds
            await self._wakeup.wait(stop, poll if wait is None else min(max(wait, 0.01), poll))
