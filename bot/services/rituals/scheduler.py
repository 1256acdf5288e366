"""The rituals scheduler: fire due occurrences, queue reminders and recaps.

:func:`tick` is safe to run from any number of processes at any moment: an occurrence is
claimed by inserting its row (the unique (ritual, scheduled time) key decides the winner)
and its posts are queued in the outbox in that same transaction; reminders and recaps are
outbox rows with unique keys too. After an outage, the latest missed occurrence within the
ritual's grace period is posted (marked late) and older ones are recorded as missed, never a
burst of stale posts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, and_, bindparam, case, func, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.commands import CommandNames
from bot.db import dialect_insert
from bot.db.base import UTCDateTime
from bot.events import Event, domain_event, publish
from bot.ids import new_uid
from bot.models import (
    Member,
    OccurrenceStatus,
    Ritual,
    RitualCheckin,
    RitualLink,
    RitualOccurrence,
    RitualReminderOptIn,
)
from bot.outbox import Outgoing, send, send_many
from bot.services.rituals.due import next_fire, next_reminder
from bot.services.rituals.messages import (
    post_message,
    recap_post,
    reminder_dm,
    reminder_post,
)
from bot.services.schedules import Schedule, fire_times

log = logging.getLogger(__name__)
DEFAULT_COMMANDS = CommandNames()

TICK_SECONDS = 20.0  # occurrences post within this of their time
ON_TIME = timedelta(minutes=2)  # a post this close to its time is not "late"
LOOKBACK = timedelta(days=35)  # how far back start-up looks for occurrences to record as missed
REMINDER_SLACK = timedelta(minutes=30)  # a reminder later than this is stale and skipped
HELD = (OccurrenceStatus.POSTED, OccurrenceStatus.LATE)  # occurrences that took place


@dataclass
class TickReport:
    """What one scheduler pass did."""

    posted: list[int] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    reminders: int = 0
    reminder_dms: int = 0
    recaps: list[int] = field(default_factory=list)


@domain_event("ritual.occurrence_posted")
@dataclass(frozen=True)
class OccurrencePosted(Event):
    """An occurrence was claimed and its post queued (features may add to its thread)."""

    community_id: int
    ritual_id: int
    occurrence_uid: str


async def claim_occurrence(
    session: AsyncSession,
    clock: Clock,
    ritual: Ritual,
    scheduled: datetime,
    *,
    status: OccurrenceStatus,
) -> int | None:
    """Insert the occurrence (the unique key decides the winner) and queue its posts with it."""
    now = clock.now()
    window = timedelta(minutes=ritual.checkin_window_minutes)
    uid = new_uid()
    occurrence_id: int | None = await session.scalar(
        dialect_insert(session, RitualOccurrence)
        .values(
            uid=uid,
            ritual_id=ritual.id,
            scheduled_at=scheduled,
            status=status,
            fired_at=now,
            closes_at=max(scheduled, now) + window,
        )
        .on_conflict_do_nothing(index_elements=["ritual_id", "scheduled_at"])
        .returning(RitualOccurrence.id)
    )
    if occurrence_id is None or status == OccurrenceStatus.MISSED:
        return occurrence_id
    await send(
        session,
        clock,
        post_message(ritual, uid, scheduled, late=status == OccurrenceStatus.LATE),
        key=f"ritual-post:{uid}",
        community_id=ritual.community_id,
    )
    await publish(
        session,
        clock,
        OccurrencePosted(community_id=ritual.community_id, ritual_id=ritual.id, occurrence_uid=uid),
    )
    return occurrence_id


@dataclass(frozen=True)
class _Due:
    """A due time a pass handled, and the one that follows it."""

    following: datetime | None


def _advance_statement() -> Any:
    """Build the guarded UPDATE that moves both due times (built once, reused)."""
    now = bindparam("now", type_=UTCDateTime())
    values = {}
    for column, name in ((Ritual.next_fire_at, "fire"), (Ritual.next_remind_at, "remind")):
        due = and_(bindparam(f"{name}_due", type_=Boolean()), column <= now)
        values[column] = case((due, bindparam(f"{name}_next", type_=UTCDateTime())), else_=column)
    return (
        update(Ritual)
        .where(Ritual.id == bindparam("ritual_id"))
        .values(values)
        .execution_options(synchronize_session=False)
    )


_ADVANCE = _advance_statement()


async def _advance(
    session: AsyncSession, ritual_id: int, now: datetime, fire: _Due | None, remind: _Due | None
) -> None:
    """Move the due times that came by ``now`` on to the following ones, if still due.

    One UPDATE for both. Two schedulers that handled the same due time compute the same
    following one, and the second finds it no longer due. A pause (NULL), a resume or an
    edit (a time after its own now) that came in between is not overwritten by a tick that
    read the older value. The guard is a range, not an equality: no exact timestamp
    round-trip is needed.
    """
    if fire is None and remind is None:
        return
    await session.execute(
        _ADVANCE,
        {
            "ritual_id": ritual_id,
            "now": now,
            "fire_due": fire is not None,
            "fire_next": fire.following if fire else None,
            "remind_due": remind is not None,
            "remind_next": remind.following if remind else None,
        },
    )


async def _fire_due(
    session: AsyncSession, clock: Clock, ritual: Ritual, report: TickReport
) -> _Due | None:
    seen = ritual.next_fire_at
    now = clock.now()
    if seen is None or seen > now:
        return None
    schedule = Schedule.from_json(ritual.schedule)
    # Every fire time since the earliest one not yet handled (after an outage, several).
    since = max(seen, ritual.active_since, now - LOOKBACK)
    due = fire_times(schedule, ritual.timezone, since, now)
    if due:
        await _claim_due(session, clock, ritual, due, report)
    return _Due(next_fire(schedule, ritual.timezone, now, inclusive=False))


async def _claim_due(
    session: AsyncSession,
    clock: Clock,
    ritual: Ritual,
    due: list[datetime],
    report: TickReport,
) -> None:
    """Claim the fire times not claimed yet: the latest posts (late if need be), older are missed."""
    now = clock.now()
    known = set(
        (
            await session.scalars(
                select(RitualOccurrence.scheduled_at).where(
                    RitualOccurrence.ritual_id == ritual.id, RitualOccurrence.scheduled_at >= due[0]
                )
            )
        ).all()
    )
    missing = [t for t in due if t not in known]
    if not missing:
        return
    *older, latest = missing
    for scheduled in older:
        if await claim_occurrence(
            session, clock, ritual, scheduled, status=OccurrenceStatus.MISSED
        ):
            report.missed.append(ritual.id)
    lateness = now - latest
    if lateness > timedelta(minutes=ritual.grace_minutes):
        if await claim_occurrence(session, clock, ritual, latest, status=OccurrenceStatus.MISSED):
            report.missed.append(ritual.id)
        return
    status = OccurrenceStatus.POSTED if lateness <= ON_TIME else OccurrenceStatus.LATE
    occurrence_id = await claim_occurrence(session, clock, ritual, latest, status=status)
    if occurrence_id is not None:
        (report.posted if status == OccurrenceStatus.POSTED else report.late).append(occurrence_id)


async def _remind(
    session: AsyncSession,
    clock: Clock,
    ritual: Ritual,
    report: TickReport,
    commands: CommandNames,
) -> _Due | None:
    seen = ritual.next_remind_at
    now = clock.now()
    if seen is None or seen > now:
        return None
    schedule = Schedule.from_json(ritual.schedule)
    leads = ritual.reminder_minutes
    horizon = now + timedelta(minutes=max(leads, default=0))
    for scheduled in fire_times(schedule, ritual.timezone, now, horizon) if leads else ():
        for lead in leads:
            due_at = scheduled - timedelta(minutes=lead)
            if (
                not due_at <= now < min(scheduled, due_at + REMINDER_SLACK)
                or due_at < ritual.active_since
            ):
                continue  # not due yet, stale (the bot was down), or due before it was active
            await _queue_reminders(session, clock, ritual, scheduled, lead, report, commands)
    return _Due(next_reminder(schedule, ritual.timezone, leads, now, inclusive=False))


async def _queue_reminders(
    session: AsyncSession,
    clock: Clock,
    ritual: Ritual,
    scheduled: datetime,
    lead: int,
    report: TickReport,
    commands: CommandNames,
) -> None:
    stamp = scheduled.strftime("%Y%m%dT%H%M")
    report.reminders += await send(
        session,
        clock,
        reminder_post(ritual, scheduled, lead),
        key=f"ritual-reminder:{ritual.uid}:{stamp}:{lead}",
        community_id=ritual.community_id,
    )
    recipients = (
        await session.execute(
            select(RitualReminderOptIn.member_id, RitualReminderOptIn.platform)
            .where(RitualReminderOptIn.ritual_id == ritual.id)
            .order_by(RitualReminderOptIn.member_id)
        )
    ).all()
    dms = [
        Outgoing(
            key=f"ritual-remind-dm:{ritual.uid}:{stamp}:{lead}:{member_id}",
            message=reminder_dm(
                ritual, scheduled, lead, member_id=member_id, platform=platform, commands=commands
            ),
            community_id=ritual.community_id,
        )
        for member_id, platform in recipients
    ]
    report.reminder_dms += await send_many(session, clock, dms)


async def _recap(
    session: AsyncSession, clock: Clock, occurrence: RitualOccurrence, ritual: Ritual
) -> bool:
    """Queue the recap once; it goes in the post's thread (the dispatcher waits for the post)."""
    claimed = await session.execute(
        update(RitualOccurrence)
        .where(RitualOccurrence.id == occurrence.id, RitualOccurrence.recap_at.is_(None))
        .values(recap_at=clock.now())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    attendees = (
        await session.execute(
            select(RitualCheckin.member_id, Member.display_name)
            .join(Member, Member.id == RitualCheckin.member_id)
            .where(RitualCheckin.occurrence_id == occurrence.id)
            .order_by(RitualCheckin.at)
        )
    ).all()
    earlier = (
        select(RitualCheckin.member_id)
        .join(RitualOccurrence, RitualOccurrence.id == RitualCheckin.occurrence_id)
        .where(
            RitualOccurrence.ritual_id == ritual.id,
            RitualOccurrence.scheduled_at < occurrence.scheduled_at,
        )
    )
    returning = set((await session.scalars(earlier)).all())
    newcomers = [(member_id, name) for member_id, name in attendees if member_id not in returning]
    sharers = func.count(RitualLink.id)
    links = (
        await session.execute(
            select(RitualLink.url, func.min(RitualLink.member_id))
            .where(RitualLink.occurrence_id == occurrence.id)
            .group_by(RitualLink.url)
            .order_by(sharers.desc(), RitualLink.url)
            .limit(3)
        )
    ).all()
    await send(
        session,
        clock,
        recap_post(
            ritual,
            occurrence.uid,
            attendees=len(attendees),
            first_timers=[(member_id, name or "a new member") for member_id, name in newcomers],
            links=[(member_id, url) for url, member_id in links],
        ),
        key=f"ritual-recap:{occurrence.uid}",
        community_id=ritual.community_id,
    )
    return True


async def due_rituals(session: AsyncSession, now: datetime) -> list[int]:
    """Return the ids of the rituals with a fire time or a reminder due by ``now``.

    Each half is one range read on its own index, so the cost follows what is due, not how
    many rituals exist. Paused rituals have neither time.
    """
    fire = select(Ritual.id).where(Ritual.next_fire_at <= now)
    remind = select(Ritual.id).where(Ritual.next_remind_at <= now)
    return sorted(set((await session.scalars(union(fire, remind))).all()))


async def tick(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    commands: CommandNames = DEFAULT_COMMANDS,
) -> TickReport:
    """Fire due occurrences, queue due reminders and recaps; safe in any number of processes."""
    report = TickReport()
    async with sessions() as session:
        rituals = await due_rituals(session, clock.now())
    for ritual_id in rituals:
        try:
            async with sessions() as session, session.begin():
                ritual = await session.get(Ritual, ritual_id)
                if ritual is None or ritual.paused:
                    continue
                fire = await _fire_due(session, clock, ritual, report)
                remind = await _remind(session, clock, ritual, report, commands)
                await _advance(session, ritual.id, clock.now(), fire, remind)
        except Exception:
            log.exception("ritual %s: scheduling pass failed; the next tick retries", ritual_id)
    async with sessions() as session:
        closed = (
            (
                await session.execute(
                    select(RitualOccurrence.id)
                    .where(
                        RitualOccurrence.status.in_(HELD),
                        RitualOccurrence.recap_at.is_(None),
                        RitualOccurrence.closes_at <= clock.now(),
                    )
                    .limit(100)
                )
            )
            .scalars()
            .all()
        )
    for occurrence_id in closed:
        async with sessions() as session, session.begin():
            occurrence = await session.get(RitualOccurrence, occurrence_id)
            ritual = await session.get(Ritual, occurrence.ritual_id) if occurrence else None
            if occurrence and ritual and await _recap(session, clock, occurrence, ritual):
                report.recaps.append(occurrence_id)
    return report
