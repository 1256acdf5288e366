"""Check-ins: a member showing up to an occurrence, by button, reaction, reply or command."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.commands import CommandNames
from bot.db import dialect_insert
from bot.errors import Invalid, NotFound
from bot.inputs import name_key
from bot.models import OccurrenceStatus, Ritual, RitualCheckin, RitualLink, RitualOccurrence
from bot.outbox.registry import subject_of
from bot.services.callers import Actor
from bot.services.engagement import ActivityKind, record_activity
from bot.services.rituals.messages import local_time

DEFAULT_COMMANDS = CommandNames()
URL = re.compile(r"https?://[^\s<>|]+")


@dataclass(frozen=True)
class CheckinResult:
    """The outcome of a check-in; ``counted`` is False for a repeat."""

    ritual_name: str
    occurrence_id: int
    counted: bool
    points: int
    total_checkins: int


async def checkin(
    session: AsyncSession, clock: Clock, *, occurrence_uid: str, member_id: int, method: str
) -> CheckinResult:
    """Check a member in to an occurrence within its window; points are awarded once."""
    row = (
        await session.execute(
            select(RitualOccurrence, Ritual)
            .join(Ritual, Ritual.id == RitualOccurrence.ritual_id)
            .where(RitualOccurrence.uid == occurrence_uid)
        )
    ).first()
    if row is None:
        raise NotFound("That ritual post is no longer known.")
    occurrence, ritual = row
    now = clock.now()
    if occurrence.status == OccurrenceStatus.MISSED:
        raise Invalid("That occurrence did not take place.")
    if now > occurrence.closes_at:
        raise Invalid(
            f"Check-in for {ritual.name} closed at {local_time(occurrence.closes_at, ritual.timezone)}."
        )
    inserted = await session.scalar(
        dialect_insert(session, RitualCheckin)
        .values(occurrence_id=occurrence.id, member_id=member_id, method=method, at=now)
        .on_conflict_do_nothing(index_elements=["occurrence_id", "member_id"])
        .returning(RitualCheckin.id)
    )
    points = 0
    if inserted is not None:
        recorded = await record_activity(
            session,
            clock,
            member_id=member_id,
            kind=ActivityKind.RITUAL_CHECKIN,
            points=ritual.checkin_points,
            source_key=f"ritual-checkin:{occurrence.uid}:{member_id}",
            source_ref=f"ritual:{ritual.uid}",
        )
        points = recorded.points if recorded.counted else 0
    total = await session.scalar(
        select(func.count())
        .select_from(RitualCheckin)
        .where(RitualCheckin.occurrence_id == occurrence.id)
    )
    return CheckinResult(ritual.name, occurrence.id, inserted is not None, points, int(total or 0))


async def occurrence_for_post(
    session: AsyncSession, *, platform: str, message_id: str
) -> str | None:
    """Return the occurrence a platform message (a ritual post, or its thread) is about."""
    subject = await subject_of(session, platform=platform, message_id=message_id, kind="occurrence")
    return subject.id if subject else None


async def checkin_by_reply(
    session: AsyncSession, clock: Clock, *, platform: str, parent_id: str, member_id: int, text: str
) -> CheckinResult | None:
    """Check in a member who replied in a ritual's thread, and count the links they shared."""
    uid = await occurrence_for_post(session, platform=platform, message_id=parent_id)
    if uid is None:
        return None
    occurrence_id = await session.scalar(
        select(RitualOccurrence.id).where(RitualOccurrence.uid == uid)
    )
    if occurrence_id is None:
        return None
    for url in dict.fromkeys(URL.findall(text)):
        await session.execute(
            dialect_insert(session, RitualLink)
            .values(
                occurrence_id=occurrence_id,
                member_id=member_id,
                url=url[:500],
                shared_at=clock.now(),
            )
            .on_conflict_do_nothing(index_elements=["occurrence_id", "url", "member_id"])
        )
    try:
        return await checkin(
            session, clock, occurrence_uid=uid, member_id=member_id, method="reply"
        )
    except Invalid:
        return None  # a late reply is still welcome; it just is not a check-in


async def checkin_current(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    name: str | None = None,
    *,
    commands: CommandNames = DEFAULT_COMMANDS,
) -> CheckinResult:
    """Check the caller in to the open occurrence of a ritual (or the only one open)."""
    now = clock.now()
    query = (
        select(RitualOccurrence.uid, Ritual.name)
        .join(Ritual, Ritual.id == RitualOccurrence.ritual_id)
        .where(
            Ritual.community_id == actor.community_id,
            RitualOccurrence.status.in_((OccurrenceStatus.POSTED, OccurrenceStatus.LATE)),
            RitualOccurrence.scheduled_at <= now,
            RitualOccurrence.closes_at >= now,
        )
        .order_by(RitualOccurrence.scheduled_at.desc())
    )
    if name:
        query = query.where(Ritual.name_key == name_key(name))
    open_now = (await session.execute(query)).all()
    if not open_now:
        listing = commands.spell(actor.caller.platform, "ritual list")
        raise NotFound(
            f"No ritual is open for check-in right now. {listing} shows when the next one starts."
        )
    if len({n for _, n in open_now}) > 1 and not name:
        names = ", ".join(sorted({n for _, n in open_now}))
        raise Invalid(f"Several rituals are open ({names}); say which one.")
    return await checkin(
        session, clock, occurrence_uid=open_now[0][0], member_id=actor.member_id, method="command"
    )
