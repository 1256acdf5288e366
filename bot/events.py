"""Domain events: published in the transaction that caused them, handled after it commits.

An event is a row written in the publisher's transaction, so it exists exactly when the
change that raised it does. The :class:`EventBus` hands each event to every subscriber in
the subscriber's own transaction, and records the delivery in that same transaction under
a unique (event, subscriber) key: a crash, a retry or a second process never delivers the
same event to the same subscriber twice. A failing subscriber is logged and retried with
backoff; it never affects the publisher or the other subscribers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, TypeVar, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.driver import run_core, sqlite_driver, sqlite_time, values_insert
from bot.db.engine import dumps_json, read_sessions_like
from bot.db.hooks import Wakeups, wake_after_commit
from bot.models import EventDelivery, EventRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base class of domain events; subclasses are frozen dataclasses of plain values."""

    name: ClassVar[str] = ""


E = TypeVar("E", bound=Event)
Handler = Callable[[AsyncSession, Any], Awaitable[None]]
_REGISTRY: dict[str, type[Event]] = {}


def domain_event(name: str) -> Callable[[type[E]], type[E]]:
    """Register an event class under a stable name (the name is stored, so never rename it)."""

    def register(cls: type[E]) -> type[E]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"event name {name!r} is already taken by {_REGISTRY[name]!r}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return register


@domain_event("member.created")
@dataclass(frozen=True)
class MemberCreated(Event):
    """A platform identity was seen for the first time and became a member."""

    community_id: int
    member_id: int
    platform: str


@domain_event("activity.recorded")
@dataclass(frozen=True)
class ActivityRecorded(Event):
    """An activity was added to the ledger."""

    community_id: int
    member_id: int
    activity_id: int
    kind: str
    points: int


@domain_event("members.linked")
@dataclass(frozen=True)
class MembersLinked(Event):
    """Two members were found to be one person and merged."""

    community_id: int
    kept_member_id: int
    merged_member_id: int


@domain_event("member.erased")
@dataclass(frozen=True)
class MemberErased(Event):
    """A member's personal data was deleted at their request."""

    community_id: int
    member_id: int


@domain_event("member.joined")
@dataclass(frozen=True)
class MemberJoined(Event):
    """A known member joined (or rejoined) a guild or workspace of the community.

    Published by :func:`bot.services.identities.member_joined`; features restore what a
    member keeps across leaving, such as paid access. ``join_uid`` is fresh for each join:
    an effect queued for this join keys on it (a later rejoin queues its own).
    """

    community_id: int
    member_id: int
    platform: str
    space: str  # the guild or workspace id on the platform
    user_id: str
    join_uid: str = ""


@domain_event("access.blocked")
@dataclass(frozen=True)
class AccessBlocked(Event):
    """A role change waits on something an owner can fix; the outbox keeps retrying it.

    Published by the outbox dispatcher when a row first blocks, or blocks for a new reason.
    """

    community_id: int | None
    outbox_key: str
    member_id: int
    access: str
    grant: bool
    platform: str
    space: str
    reason: str


def decode(name: str, payload: dict[str, Any]) -> Event:
    """Rebuild a stored event."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise KeyError(f"unknown event {name!r}")
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in payload.items() if k in fields})


# The table, not the entity: an INSERT of the entity goes through the ORM's bulk-insert
# machinery (about a third of the statement's cost) for a row nothing loads back.
_EVENTS = cast(Table, EventRecord.__table__)
_PUBLISH = insert(_EVENTS)
# The bus's pass: the oldest events not done yet, by id and name.
_PENDING = (
    select(_EVENTS.c.id, _EVENTS.c.name)
    .where(_EVENTS.c.done_at.is_(None))
    .order_by(_EVENTS.c.id)
    .limit(bindparam("limit"))
)
_PUBLISH_SQLITE = "INSERT INTO events (name, payload, created_at)"


def payload_of(event: Event) -> dict[str, Any]:
    """Return an event's fields as its stored payload (values are plain: JSON writes them)."""
    return {field.name: getattr(event, field.name) for field in dataclasses.fields(event)}


async def publish(session: AsyncSession, clock: Clock, event: Event) -> None:
    """Record an event in the caller's transaction; subscribers see it after commit."""
    if not event.name:
        raise TypeError(f"{type(event).__name__} is not registered with @domain_event")
    # A Core INSERT, not an ORM add: a tick firing hundreds of rituals publishes one event
    # each, and the unit of work's bookkeeping per object cost it about a tenth of its rate.
    # Built once and sent straight to SQLite's driver (run_core): a webhook publishes one.
    await run_core(
        session,
        _PUBLISH,
        {"name": event.name, "payload": payload_of(event), "created_at": clock.now()},
    )
    wake_after_commit(session)


async def publish_many(session: AsyncSession, clock: Clock, events: Sequence[Event]) -> None:
    """Record several events in one statement (a batch import), as :func:`publish` does one."""
    if not events:
        return
    for event in events:
        if not event.name:
            raise TypeError(f"{type(event).__name__} is not registered with @domain_event")
    now = clock.now()
    driver = await sqlite_driver(session)
    if driver is not None:
        # A first chat burst creates thousands of members, one event each: straight to
        # SQLite's driver (bot.db.driver), the payload as the engine's JSON serializer writes it.
        stamp = sqlite_time(now)
        await values_insert(
            driver,
            _PUBLISH_SQLITE,
            [(e.name, dumps_json(payload_of(e)), stamp) for e in events],
            "",
        )
    else:
        await session.execute(
            _PUBLISH,
            [{"name": e.name, "payload": payload_of(e), "created_at": now} for e in events],
        )
    wake_after_commit(session)


class _DeliveryConflict(Exception):
    """Another process delivered the event first; our handler's work is rolled back."""


class EventBus:
    """Delivers stored events to subscribers, each in its own transaction, at most once each."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        max_attempts: int = 8,
        backoff_seconds: float = 2.0,
        poll_seconds: float = 1.0,
        settle_seconds: float = 0.0,
    ) -> None:
        self._sessions = sessions
        # What only reads takes no write lock on SQLite (see bot.db.engine.read_sessions).
        self._reads = read_sessions_like(sessions)
        self._clock = clock
        self._subscribers: dict[str, list[tuple[str, Handler]]] = defaultdict(list)
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._poll = poll_seconds
        self._wakeup = Wakeups(settle_seconds)

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[AsyncSession, E], Awaitable[None]],
        *,
        name: str | None = None,
    ) -> None:
        """Call ``handler(session, event)`` for every event of this type, after commit."""
        subscriber = name or f"{handler.__module__}.{handler.__qualname__}"
        taken = {n for n, _ in self._subscribers[event_type.name]}
        if subscriber in taken:
            raise ValueError(f"{subscriber!r} already subscribes to {event_type.name!r}")
        self._subscribers[event_type.name].append((subscriber, handler))

    def wake(self) -> None:
        """Tell the loop there may be new events."""
        self._wakeup.set()

    async def process_pending(self, limit: int = 200) -> int:
        """Deliver what is due; return how many deliveries succeeded.

        One read finds the batch and what was delivered of it already; the events nobody
        subscribes to are marked done together, in one statement.
        """
        async with self._reads() as session:
            # Names first (plain rows): most events of a burst have no subscriber, and
            # neither their payloads nor ORM objects are needed to mark them done.
            due = await run_core(session, _PENDING, {"limit": limit})
            wanted = [event_id for event_id, name in due if self._subscribers.get(name)]
            records: list[EventRecord] = []
            known: dict[int, list[EventDelivery]] = defaultdict(list)
            if wanted:
                records = list(
                    await session.scalars(
                        select(EventRecord)
                        .where(EventRecord.id.in_(wanted))
                        .order_by(EventRecord.id)
                    )
                )
                for row in await session.scalars(
                    select(EventDelivery).where(EventDelivery.event_id.in_(wanted))
                ):
                    known[row.event_id].append(row)
        unheard = [event_id for event_id, name in due if not self._subscribers.get(name)]
        if unheard:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(_EVENTS)
                    .where(_EVENTS.c.id.in_(unheard), _EVENTS.c.done_at.is_(None))
                    .values(done_at=self._clock.now())
                )
        delivered = 0
        for record in records:
            delivered += await self._deliver(record, known[record.id])
        return delivered

    async def _deliver(self, record: EventRecord, rows: Sequence[EventDelivery]) -> int:
        known = {row.subscriber: row for row in rows}
        now = self._clock.now()
        delivered = 0
        outstanding = False
        for subscriber, handler in self._subscribers.get(record.name, []):
            previous = known.get(subscriber)
            if previous is not None and previous.status in ("done", "dead"):
                continue
            if previous is not None and previous.next_attempt_at and previous.next_attempt_at > now:
                outstanding = True
                continue
            event = decode(record.name, record.payload)
            try:
                await self._run_handler(record.id, subscriber, handler, event, previous)
                delivered += 1
            except _DeliveryConflict:
                continue
            except Exception as exc:  # a subscriber's bug must not stop the others
                log.exception(
                    "subscriber %s failed on event %s #%s", subscriber, record.name, record.id
                )
                if not await self._record_failure(record.id, subscriber, previous, exc):
                    outstanding = True
        if not outstanding:
            await self._maybe_finish(record)
        return delivered

    async def _run_handler(
        self,
        event_id: int,
        subscriber: str,
        handler: Handler,
        event: Event,
        previous: EventDelivery | None,
    ) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await handler(session, event)
                if previous is None:
                    session.add(
                        EventDelivery(
                            event_id=event_id, subscriber=subscriber, status="done", attempts=1
                        )
                    )
                    await session.flush()
                else:
                    result = await session.execute(
                        update(EventDelivery)
                        .where(
                            EventDelivery.id == previous.id,
                            EventDelivery.status == "failed",
                            EventDelivery.attempts == previous.attempts,
                        )
                        .values(status="done", attempts=previous.attempts + 1, last_error=None)
                    )
                    if result.rowcount != 1:  # type: ignore[attr-defined]
                        raise _DeliveryConflict
        except IntegrityError:
            raise _DeliveryConflict from None

    async def _record_failure(
        self, event_id: int, subscriber: str, previous: EventDelivery | None, exc: Exception
    ) -> bool:
        """Note a failed attempt; return True when the subscriber has given up for good."""
        attempts = (previous.attempts if previous else 0) + 1
        dead = attempts >= self._max_attempts
        delay = min(self._backoff * 2 ** (attempts - 1), 3600.0)
        values: dict[str, Any] = {
            "status": "dead" if dead else "failed",
            "attempts": attempts,
            "next_attempt_at": self._clock.now() + timedelta(seconds=delay),
            "last_error": f"{type(exc).__name__}: {exc}"[:2000],
        }
        try:
            async with self._sessions() as session, session.begin():
                if previous is None:
                    session.add(EventDelivery(event_id=event_id, subscriber=subscriber, **values))
                else:
                    await session.execute(
                        update(EventDelivery)
                        .where(EventDelivery.id == previous.id)
                        .values(**values)
                    )
        except IntegrityError:
            return False
        return dead

    async def _maybe_finish(self, record: EventRecord) -> None:
        names = {name for name, _ in self._subscribers.get(record.name, [])}
        async with self._sessions() as session, session.begin():
            finished = set(
                (
                    await session.scalars(
                        select(EventDelivery.subscriber).where(
                            EventDelivery.event_id == record.id,
                            EventDelivery.status.in_(("done", "dead")),
                        )
                    )
                ).all()
            )
            if names <= finished:
                await session.execute(
                    update(EventRecord)
                    .where(EventRecord.id == record.id, EventRecord.done_at.is_(None))
                    .values(done_at=self._clock.now())
                )

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver events until ``stop`` is set, waking on commits and polling for other processes."""
        while not stop.is_set():
            self._wakeup.starting()
            try:
                await self.process_pending()
            except Exception:
                log.exception("event delivery pass failed; retrying")
            await self._wakeup.wait(stop, self._poll)
