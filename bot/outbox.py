"""The outbox: side effects written with the change that caused them, sent once, paced.

A feature never talks to a platform directly. It calls :func:`enqueue` inside its own
transaction with a unique key, so the effect exists exactly when the change does and can
never be queued twice. The :class:`Dispatcher` claims due rows (a lease, so a crashed
dispatcher's work is taken up again), paces them per target with a :class:`RateLimiter`
the platform senders configure, sends them, and marks them sent with the platform's id,
retries them with backoff, or dead-letters them with a reason an owner can read.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import dialect_insert
from bot.db.hooks import wake_after_commit
from bot.models import OutboxMessage
from bot.settings import OutboxSettings

log = logging.getLogger(__name__)

# Statuses of a row a dispatcher holds under a lease: claimed in a batch, then being sent.
LEASED = ("claimed", "sending")
# Waits up to this long are slept through in place; longer ones defer the row so that
# other targets keep moving.
INLINE_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class Effect:
    """One side effect as a sender sees it.

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
    payload: dict[str, Any]
    attempts: int
    created_at: datetime | None = None


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

    async def send(self, effect: Effect) -> str | None:
        """Deliver the effect; return the platform's id for it, raise on failure."""


@dataclass(frozen=True)
class Queued:
    """An effect to queue: what :func:`enqueue_many` takes."""

    key: str
    platform: str
    action: str
    target: str
    payload: dict[str, Any]
    not_before: datetime | None = None
    community_id: int | None = None


async def enqueue(
    session: AsyncSession,
    clock: Clock,
    *,
    key: str,
    platform: str,
    action: str,
    target: str,
    payload: dict[str, Any],
    not_before: datetime | None = None,
    community_id: int | None = None,
) -> bool:
    """Queue an effect in the caller's transaction; return False if the key was already queued."""
    effect = Queued(key, platform, action, target, payload, not_before, community_id)
    return await enqueue_many(session, clock, [effect]) == 1


async def enqueue_many(session: AsyncSession, clock: Clock, effects: Iterable[Queued]) -> int:
    """Queue effects in the caller's transaction in one statement; return how many were new.

    A fan-out (500 reminder DMs) holds the write lock for one executemany, not 500 round trips.
    """
    now = clock.now()
    rows = [
        {
            "key": effect.key,
            "community_id": effect.community_id,
            "platform": effect.platform,
            "action": effect.action,
            "target": effect.target,
            "payload": effect.payload,
            "status": "pending",
            "attempts": 0,
            "not_before": effect.not_before or now,
            "created_at": now,
        }
        for effect in effects
    ]
    if not rows:
        return 0
    table = OutboxMessage.__table__
    statement = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=["key"])
        # RETURNING names the rows really inserted, on both databases and for any batch size.
        .returning(table.c.key)
    )
    inserted = (await session.execute(statement, rows)).scalars().all()
    wake_after_commit(session)
    return len(inserted)


@dataclass
class _Window:
    limit: RateLimit
    sent: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class RateLimiter:
    """Sliding-window limits per bucket, on the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def _window(self, bucket: str, limit: RateLimit) -> _Window:
        window = self._windows.get(bucket)
        if window is None or window.limit != limit:
            # Keep what was sent and any block the platform imposed when the limit changes.
            window = _Window(
                limit=limit,
                sent=window.sent if window else deque(),
                blocked_until=window.blocked_until if window else 0.0,
            )
            self._windows[bucket] = window
        return window

    def reserve(self, buckets: Iterable[tuple[str, RateLimit]]) -> float:
        """Take a slot in every bucket and return 0, or take none and return the wait."""
        now = self._clock.monotonic()
        windows = [self._window(bucket, limit) for bucket, limit in buckets]
        wait = 0.0
        for window in windows:
            while window.sent and window.sent[0] <= now - window.limit.per_seconds:
                window.sent.popleft()
            wait = max(wait, window.blocked_until - now)
            if len(window.sent) >= window.limit.count:
                wait = max(wait, window.sent[0] + window.limit.per_seconds - now)
        if wait > 0:
            return wait
        for window in windows:
            window.sent.append(now)
        return 0.0

    def block(self, bucket: str, seconds: float) -> None:
        """Hold a bucket closed (the platform said so)."""
        window = self._windows.get(bucket)
        if window is None:
            window = self._windows[bucket] = _Window(limit=RateLimit(1_000_000, 1.0))
        window.blocked_until = max(window.blocked_until, self._clock.monotonic() + seconds)


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
        self._clock = clock
        self._settings = settings
        self._senders: dict[str, Sender] = {}
        self.limiter = RateLimiter(clock)
        self._wakeup = asyncio.Event()
        for sender in senders:
            self.register(sender)

    def register(self, sender: Sender) -> None:
        """Deliver this platform's effects through ``sender``."""
        self._senders[sender.platform] = sender

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
        self, row: OutboxMessage, following: OutboxMessage | None = None, **values: Any
    ) -> bool:
        """Record how a row ended and, in the same commit, mark the next one as being sent.

        Return whether ``following`` is now "sending" (still held by this batch).
        """
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.claim_token == row.claim_token)
                .values(claim_token=None, lease_until=None, **values)
            )
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
        effect = Effect(
            id=row.id,
            key=row.key,
            platform=row.platform,
            action=row.action,
            target=row.target,
            payload=dict(row.payload),
            attempts=row.attempts,
            created_at=row.created_at,
        )
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
            external_id = await sender.send(effect)
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
        except PermanentFailure as exc:
            log.warning("outbox %s dead-lettered: %s", row.key, exc.reason)
            started = await self._finish(
                row, following, status="dead", attempts=row.attempts + 1, last_error=exc.reason
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
                    not_before=self._clock.now() + timedelta(seconds=delay),
                )
            return 0, started
        started = await self._finish(
            row,
            following,
            status="sent",
            attempts=row.attempts + 1,
            sent_at=self._clock.now(),
            external_id=external_id,
            last_error=None,
        )
        return 1, started

    async def next_due_in(self) -> float | None:
        """Return seconds until the next row for our senders is due, or None if none waits."""
        mine = OutboxMessage.platform.in_(list(self._senders))
        async with self._sessions() as session:
            pending = await session.scalar(
                select(func.min(OutboxMessage.not_before)).where(
                    mine, OutboxMessage.status == "pending"
                )
            )
            leased = await session.scalar(
                select(func.min(OutboxMessage.lease_until)).where(
                    mine, OutboxMessage.status.in_(LEASED)
                )
            )
        times = [when for when in (pending, leased) if when is not None]
        if not times:
            return None
        return max(0.0, (min(times) - self._clock.now()).total_seconds())

    async def drain(self, max_passes: int = 10_000) -> int:
        """Send until nothing is pending, sleeping on the clock for deferred rows (tests, demo)."""
        delivered = 0
        for _ in range(max_passes):
            sent = await self.dispatch_due()
            delivered += sent
            wait = await self.next_due_in()
            if wait is None:
                return delivered
            if not sent:
                # Timestamps are stored at microsecond precision; never spin on a zero wait.
                await self._clock.sleep(max(wait, 0.001))
        raise RuntimeError("outbox did not drain; a sender keeps deferring")

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set, waking on commits and at the next due time."""
        while not stop.is_set():
            self._wakeup.clear()
            wait: float | None
            try:
                if await self.dispatch_due():
                    continue
                wait = await self.next_due_in()
            except Exception:
                log.exception("outbox pass failed; retrying")
                wait = self._settings.poll_seconds
            poll = self._settings.poll_seconds
            timeout = poll if wait is None else min(max(wait, 0.01), poll)
            waiter = asyncio.ensure_future(self._wakeup.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()
