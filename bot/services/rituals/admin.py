"""Running rituals: create, edit, pause, resume, delete, hosts, reminder opt-in, run now.

Every write but the reminder opt-in is for moderators, checked here on every call.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import Invalid
from bot.inputs import name_key
from bot.messages import Subject
from bot.models import (
    Destination,
    OccurrenceStatus,
    Ritual,
    RitualHost,
    RitualOccurrence,
    RitualReminderOptIn,
)
from bot.outbox.registry import cancel_about, was_posted
from bot.services.audit import audit
from bot.services.callers import Actor, Role, require
from bot.services.rituals._channels import channels_of, new_destination, set_channel
from bot.services.rituals.due import schedule_from, unschedule
from bot.services.rituals.messages import occurrence_subject, ritual_subject
from bot.services.rituals.scheduler import claim_occurrence
from bot.services.rituals.specs import RitualChanges, RitualSpec, check_upcoming, validate
from bot.services.rituals.views import RitualView, find_ritual, spec_of, view_of
from bot.services.schedules import Schedule


async def _refuse_taken_name(
    session: AsyncSession, community_id: int, name: str, *, keep: int | None = None
) -> None:
    """Refuse a name another ritual of the community has, whatever its capitals."""
    query = select(Ritual.id).where(
        Ritual.community_id == community_id, Ritual.name_key == name_key(name)
    )
    if keep is not None:
        query = query.where(Ritual.id != keep)
    if await session.scalar(query):
        raise Invalid(
            f"A ritual called {name.strip()!r} exists already; pick another name or edit it.",
            field="name",
            code="name.taken",
        )


def _reschedule(ritual: Ritual, before: RitualSpec, after: RitualSpec, now: datetime) -> None:
    """Store the due times of an edited ritual.

    A new schedule (or zone) counts from the edit: it does not look back for fire times it
    never had. An unchanged one keeps its next fire time, so one due but not handled yet
    still fires. The next reminder is the earlier of the one stored and the new leads'
    (an early wake-up only makes the tick look and store the right one).
    """
    pending_reminder = ritual.next_remind_at
    moved = (before.schedule, before.timezone) != (after.schedule, after.timezone)
    pending_fire = ritual.next_fire_at
    schedule_from(ritual, now)
    if not moved and pending_fire is not None:
        ritual.next_fire_at = min(pending_fire, ritual.next_fire_at or pending_fire)
    if pending_reminder is not None:
        ritual.next_remind_at = min(pending_reminder, ritual.next_remind_at or pending_reminder)


async def create_ritual(
    session: AsyncSession, clock: Clock, actor: Actor, spec: RitualSpec
) -> RitualView:
    """Create a ritual (moderators only), posting in ``spec.channel_id`` on the actor's platform."""
    require(actor, Role.MODERATOR)
    spec, schedule = validate(spec, has_channel=bool(spec.channel_id))
    check_upcoming(schedule, spec.timezone, clock.now())
    await _refuse_taken_name(session, actor.community_id, spec.name)
    ritual = Ritual(
        community_id=actor.community_id,
        name=spec.name,
        kind=spec.kind,
        schedule=schedule.to_json(),
        timezone=spec.timezone,
        prompt=spec.prompt,
        thread_per_occurrence=spec.thread_per_occurrence,
        reminder_minutes=list(spec.reminder_minutes),
        checkin_window_minutes=spec.checkin_window_minutes,
        checkin_points=spec.checkin_points,
        grace_minutes=spec.grace_minutes,
        paused=False,
        created_by=actor.member_id,
        created_at=clock.now(),
        active_since=clock.now(),
    )
    ritual.destination_id = await new_destination(session, clock, actor.community_id)
    schedule_from(ritual, clock.now())
    session.add(ritual)
    await session.flush()
    await set_channel(session, ritual, actor.caller.platform, spec.channel_id)
    await audit(
        session, clock, actor, "ritual.create", f"ritual:{ritual.uid}", {"name": ritual.name}
    )
    return await view_of(session, ritual, clock.now())


async def edit_ritual(
    session: AsyncSession, clock: Clock, actor: Actor, name: str, changes: RitualChanges
) -> RitualView:
    """Change some fields of a ritual (moderators only); its channel is on the actor's platform."""
    require(actor, Role.MODERATOR)
    ritual = await find_ritual(session, actor.community_id, name)
    platform = actor.caller.platform
    current = await spec_of(session, ritual, platform)
    updated = changes.applied_to(current)
    elsewhere = any(c.platform != platform for c in await channels_of(session, ritual))
    updated, schedule = validate(updated, has_channel=bool(updated.channel_id) or elsewhere)
    if (schedule, updated.timezone) != (Schedule.from_json(ritual.schedule), ritual.timezone):
        # A spent one-off can still be edited; moving it into the past cannot.
        check_upcoming(schedule, updated.timezone, clock.now())
    await _refuse_taken_name(session, actor.community_id, updated.name, keep=ritual.id)
    ritual.name = updated.name
    ritual.schedule = schedule.to_json()
    ritual.timezone = updated.timezone
    ritual.prompt = updated.prompt
    await set_channel(session, ritual, platform, updated.channel_id)
    ritual.thread_per_occurrence = updated.thread_per_occurrence
    ritual.reminder_minutes = list(updated.reminder_minutes)
    ritual.checkin_window_minutes = updated.checkin_window_minutes
    ritual.checkin_points = updated.checkin_points
    ritual.grace_minutes = updated.grace_minutes
    if not ritual.paused:
        _reschedule(ritual, current, await spec_of(session, ritual, platform), clock.now())
    await session.flush()
    saved = await spec_of(session, ritual, platform)
    changed = [f.name for f in fields(saved) if getattr(saved, f.name) != getattr(current, f.name)]
    await audit(
        session, clock, actor, "ritual.edit", f"ritual:{ritual.uid}", {"fields": sorted(changed)}
    )
    return await view_of(session, ritual, clock.now())


async def set_paused(
    session: AsyncSession, clock: Clock, actor: Actor, name: str, paused: bool
) -> RitualView:
    """Pause or resume a ritual (moderators only). Occurrences due while paused are skipped."""
    require(actor, Role.MODERATOR)
    ritual = await find_ritual(session, actor.community_id, name)
    if paused and not ritual.paused:
        unschedule(ritual)
    elif ritual.paused and not paused:
        # Resuming must not replay what fell due during the pause: count from now.
        ritual.active_since = max(ritual.active_since, clock.now())
        schedule_from(ritual, ritual.active_since)
    ritual.paused = paused
    if paused:
        # Nothing queued for it goes out while it is paused, and an occurrence whose post
        # never went out gets no recap either.
        await cancel_about(session, await _subjects_of(session, ritual))
        await _forget_unposted(session, clock, ritual)
    await session.flush()
    await audit(
        session, clock, actor, "ritual.pause" if paused else "ritual.resume", f"ritual:{ritual.uid}"
    )
    return await view_of(session, ritual, clock.now())


async def delete_ritual(session: AsyncSession, clock: Clock, actor: Actor, name: str) -> str:
    """Delete a ritual and its history (moderators only); return its name."""
    require(actor, Role.MODERATOR)
    ritual = await find_ritual(session, actor.community_id, name)
    await audit(
        session, clock, actor, "ritual.delete", f"ritual:{ritual.uid}", {"name": ritual.name}
    )
    # Its queued posts, reminders and recaps would go out with buttons nobody can answer.
    await cancel_about(session, await _subjects_of(session, ritual))
    destination = ritual.destination_id
    await session.delete(ritual)
    await session.flush()
    await session.execute(delete(Destination).where(Destination.id == destination))
    return ritual.name


async def _forget_unposted(session: AsyncSession, clock: Clock, ritual: Ritual) -> None:
    """Close the recap of every occurrence of the ritual that was never posted anywhere."""
    waiting = await session.scalars(
        select(RitualOccurrence).where(
            RitualOccurrence.ritual_id == ritual.id, RitualOccurrence.recap_at.is_(None)
        )
    )
    for occurrence in waiting:
        if not await was_posted(session, occurrence_subject(occurrence.uid)):
            occurrence.recap_at = clock.now()


async def _subjects_of(session: AsyncSession, ritual: Ritual) -> list[Subject]:
    """Return everything the outbox may hold about a ritual: itself and its occurrences."""
    occurrences = await session.scalars(
        select(RitualOccurrence.uid).where(RitualOccurrence.ritual_id == ritual.id)
    )
    return [ritual_subject(ritual.uid), *(occurrence_subject(uid) for uid in occurrences)]


async def add_host(
    session: AsyncSession, clock: Clock, actor: Actor, name: str, member_id: int
) -> bool:
    """Make a member a host of the ritual (moderators only); False if they were already."""
    require(actor, Role.MODERATOR)
    ritual = await find_ritual(session, actor.community_id, name)
    result = await session.execute(
        dialect_insert(session, RitualHost)
        .values(ritual_id=ritual.id, member_id=member_id)
        .on_conflict_do_nothing(index_elements=["ritual_id", "member_id"])
    )
    await audit(
        session, clock, actor, "ritual.host_add", f"ritual:{ritual.uid}", about_member_id=member_id
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_reminder(session: AsyncSession, actor: Actor, name: str, on: bool) -> bool:
    """Opt the caller in or out of DM reminders for a ritual; return the new state."""
    ritual = await find_ritual(session, actor.community_id, name)
    if on:
        await session.execute(
            dialect_insert(session, RitualReminderOptIn)
            .values(ritual_id=ritual.id, member_id=actor.member_id, platform=actor.caller.platform)
            .on_conflict_do_update(
                index_elements=["ritual_id", "member_id"], set_={"platform": actor.caller.platform}
            )
        )
    else:
        await session.execute(
            delete(RitualReminderOptIn).where(
                RitualReminderOptIn.ritual_id == ritual.id,
                RitualReminderOptIn.member_id == actor.member_id,
            )
        )
    return on


async def run_now(session: AsyncSession, clock: Clock, actor: Actor, name: str) -> int:
    """Fire a ritual immediately, outside its schedule (moderators only); return the occurrence id."""
    require(actor, Role.MODERATOR)
    ritual = await find_ritual(session, actor.community_id, name)
    now = clock.now().replace(second=0, microsecond=0)
    occurrence_id = await claim_occurrence(
        session, clock, ritual, now, status=OccurrenceStatus.POSTED
    )
    if occurrence_id is None:
        raise Invalid("It already ran this minute; give it a moment.", code="run_now.repeat")
    await audit(session, clock, actor, "ritual.run_now", f"ritual:{ritual.uid}")
    return occurrence_id
