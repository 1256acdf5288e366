"""Rituals: weekly community moments that post on time, exactly once, with reminders,
check-ins, recaps and attendance.

The database is the source of truth. :func:`tick` is safe to run from any number of
processes at any moment: an occurrence is claimed by inserting its row (the unique
(ritual, scheduled time) key decides the winner) and its posts are queued in the outbox in
that same transaction; reminders and recaps are outbox rows with unique keys too. After an
outage, the latest missed occurrence within the ritual's grace period is posted (marked
late) and older ones are recorded as missed, never a burst of stale posts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, distinct, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.commands import CommandNames
from bot.db import dialect_insert
from bot.errors import Invalid, NotFound
from bot.features import Feature, FeatureContext, Job
from bot.models import (
    Activity,
    Identity,
    Member,
    OutboxMessage,
    PlatformSpace,
    Ritual,
    RitualCheckin,
    RitualHost,
    RitualLink,
    RitualOccurrence,
    RitualReminderOptIn,
)
from bot.outbox import Queued, enqueue, enqueue_many
from bot.services.audit import record_audit
from bot.services.callers import Actor, Role, require
from bot.services.engagement import ActivityKind, record_activity
from bot.services.identities import dm_target
from bot.services.schedules import Schedule, fire_times, next_fire_times, parse_schedule, zone
from bot.text import discord_escape, slack_escape

log = logging.getLogger(__name__)
DEFAULT_COMMANDS = CommandNames()

TICK_SECONDS = 20.0  # occurrences post within this of their time
ON_TIME = timedelta(minutes=2)  # a post this close to its time is not "late"
LOOKBACK = timedelta(days=35)  # how far back start-up looks for occurrences to record as missed
REMINDER_SLACK = timedelta(minutes=30)  # a reminder later than this is stale and skipped
PLATFORMS = ("discord", "slack")
KINDS = ("office_hours", "feedback_friday", "monday_wins", "monthly_drop", "custom")
CHECKIN_PREFIX = "ritual-checkin:"
URL = re.compile(r"https?://[^\s<>|]+")


@dataclass(frozen=True)
class Template:
    """A classic ritual a moderator can create in one step."""

    name: str
    schedule: str
    prompt: str
    reminder_minutes: tuple[int, ...] = (1440, 60)
    checkin_window_minutes: int = 120
    checkin_points: int = 10


TEMPLATES: dict[str, Template] = {
    "office_hours": Template(
        "Office Hours",
        "weekly thu 17:00",
        "Office Hours are open: ask the team anything in the thread, and check in so we know you came.",
        checkin_window_minutes=90,
    ),
    "feedback_friday": Template(
        "Feedback Friday",
        "weekly fri 12:00",
        "Feedback Friday: share what you are working on and get honest, kind feedback from the community.",
        checkin_window_minutes=480,
    ),
    "monday_wins": Template(
        "Monday Wins",
        "weekly mon 09:00",
        "Monday Wins: what went well last week? Share one win, big or small, in the thread.",
        reminder_minutes=(60,),
        checkin_window_minutes=720,
    ),
    "monthly_drop": Template(
        "Monthly Drop",
        "monthly first tue 18:00",
        "This month's drop is live. Tell us what you think in the thread; members hear first.",
        reminder_minutes=(1440, 60),
        checkin_window_minutes=1440,
        checkin_points=20,
    ),
}


@dataclass(frozen=True)
class RitualSpec:
    """What a moderator gives to create or edit a ritual."""

    name: str
    schedule: str
    timezone: str
    prompt: str
    kind: str = "custom"
    discord_channel_id: str | None = None
    slack_channel_id: str | None = None
    thread_per_occurrence: bool = True
    reminder_minutes: tuple[int, ...] = (1440, 60)
    checkin_window_minutes: int = 120
    checkin_points: int = 10
    grace_minutes: int = 60


@dataclass(frozen=True)
class RitualView:
    """A ritual as commands show it."""

    id: int
    name: str
    kind: str
    schedule: str
    timezone: str
    discord_channel_id: str | None
    slack_channel_id: str | None
    paused: bool
    next_fire: datetime | None
    reminder_minutes: tuple[int, ...]
    checkin_points: int
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class FireTime:
    """One upcoming firing, in the ritual's zone and in UTC."""

    local: datetime
    utc: datetime


@dataclass(frozen=True)
class CheckinResult:
    """The outcome of a check-in; ``counted`` is False for a repeat."""

    ritual_name: str
    occurrence_id: int
    counted: bool
    points: int
    total_checkins: int


@dataclass
class TickReport:
    """What one scheduler pass did."""

    posted: list[int] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    reminders: int = 0
    reminder_dms: int = 0
    recaps: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Attendance:
    """Attendance of one ritual in one week: the mean of its occurrences' rates."""

    ritual_id: int
    week_start: date
    occurrences: int
    checkins: int
    rate: float | None


# ----------------------------------------------------------------------------- validation


def _validate(spec: RitualSpec) -> Schedule:
    name = spec.name.strip()
    if not 1 <= len(name) <= 80:
        raise Invalid("A ritual name has 1 to 80 characters.")
    if spec.kind not in KINDS:
        raise Invalid(f"Kind must be one of {', '.join(KINDS)}.")
    zone(spec.timezone)
    schedule = parse_schedule(spec.schedule)
    if not spec.prompt.strip() or len(spec.prompt) > 1500:
        raise Invalid("The prompt is the post members see: give 1 to 1,500 characters.")
    if not (spec.discord_channel_id or spec.slack_channel_id):
        raise Invalid("Choose a channel to post in.")
    if len(spec.reminder_minutes) > 3 or any(not 5 <= m <= 7 * 1440 for m in spec.reminder_minutes):
        raise Invalid("Reminders: up to three, each 5 minutes to 7 days before (like `1440, 60`).")
    if not 5 <= spec.checkin_window_minutes <= 7 * 1440:
        raise Invalid("The check-in window is 5 minutes to 7 days.")
    if not 0 <= spec.checkin_points <= 1000:
        raise Invalid("Check-in points are 0 to 1,000.")
    if not 0 <= spec.grace_minutes <= 1440:
        raise Invalid("The grace period is 0 to 1,440 minutes.")
    return schedule


def parse_minutes(text: str) -> tuple[int, ...]:
    """Parse reminder lead times like ``24h, 1h`` or ``1440, 60`` into minutes."""
    leads = []
    for part in re.split(r"[,\s]+", text.strip().lower()):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)\s*(m|min|h|d)?", part)
        if not match:
            raise Invalid(f"`{part}` is not a lead time; write minutes or hours, like `24h, 1h`.")
        value, unit = int(match.group(1)), match.group(2) or "m"
        leads.append(value * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit])
    return tuple(sorted(set(leads), reverse=True))


# ----------------------------------------------------------------------------- commands


async def _ritual(session: AsyncSession, community_id: int, name: str) -> Ritual:
    ritual = await session.scalar(
        select(Ritual).where(
            Ritual.community_id == community_id, func.lower(Ritual.name) == name.strip().lower()
        )
    )
    if ritual is None:
        names = (
            await session.scalars(select(Ritual.name).where(Ritual.community_id == community_id))
        ).all()
        known = ", ".join(sorted(names)) or "none yet"
        raise NotFound(f"There is no ritual called {name!r}. Rituals here: {known}.")
    return ritual


async def _view(session: AsyncSession, ritual: Ritual, now: datetime) -> RitualView:
    schedule = Schedule.from_json(ritual.schedule)
    upcoming = next_fire_times(schedule, ritual.timezone, now, 1)
    hosts = (
        await session.scalars(
            select(Member.display_name)
            .join(RitualHost, RitualHost.member_id == Member.id)
            .where(RitualHost.ritual_id == ritual.id)
        )
    ).all()
    return RitualView(
        id=ritual.id,
        name=ritual.name,
        kind=ritual.kind,
        schedule=schedule.describe(),
        timezone=ritual.timezone,
        discord_channel_id=ritual.discord_channel_id,
        slack_channel_id=ritual.slack_channel_id,
        paused=ritual.paused,
        next_fire=upcoming[0] if upcoming and not ritual.paused else None,
        reminder_minutes=tuple(ritual.reminder_minutes),
        checkin_points=ritual.checkin_points,
        hosts=tuple(sorted(h or "a member" for h in hosts)),
    )


async def create_ritual(
    session: AsyncSession, clock: Clock, actor: Actor, spec: RitualSpec
) -> RitualView:
    """Create a ritual (moderators only)."""
    require(actor, Role.MODERATOR)
    schedule = _validate(spec)
    await _refuse_taken_name(session, actor.community_id, spec.name)
    ritual = Ritual(
        community_id=actor.community_id,
        name=spec.name.strip(),
        kind=spec.kind,
        schedule=schedule.to_json(),
        timezone=spec.timezone,
        discord_channel_id=spec.discord_channel_id,
        slack_channel_id=spec.slack_channel_id,
        prompt=spec.prompt.strip(),
        thread_per_occurrence=spec.thread_per_occurrence,
        reminder_minutes=list(spec.reminder_minutes),
        checkin_window_minutes=spec.checkin_window_minutes,
        checkin_points=spec.checkin_points,
        grace_minutes=spec.grace_minutes,
        paused=False,
        created_by=actor.member_id,
        created_at=clock.now(),
    )
    session.add(ritual)
    await session.flush()
    await record_audit(
        session,
        clock,
        community_id=actor.community_id,
        actor_member_id=actor.member_id,
        action="ritual.create",
        target=f"ritual:{ritual.id}",
        detail={"name": ritual.name},
    )
    return await _view(session, ritual, clock.now())


def spec_from_template(
    template: str, *, timezone: str, channel_id: str, platform: str, name: str | None = None
) -> RitualSpec:
    """Build the spec of a classic ritual, posting in the given channel."""
    chosen = TEMPLATES.get(template)
    if chosen is None:
        raise Invalid(f"Templates: {', '.join(TEMPLATES)}.")
    return RitualSpec(
        name=name or chosen.name,
        kind=template,
        schedule=chosen.schedule,
        timezone=timezone,
        prompt=chosen.prompt,
        discord_channel_id=channel_id if platform == "discord" else None,
        slack_channel_id=channel_id if platform == "slack" else None,
        reminder_minutes=chosen.reminder_minutes,
        checkin_window_minutes=chosen.checkin_window_minutes,
        checkin_points=chosen.checkin_points,
    )


async def _refuse_taken_name(
    session: AsyncSession, community_id: int, name: str, *, keep: int | None = None
) -> None:
    """Refuse a name another ritual of the community has, whatever its capitals."""
    query = select(Ritual.id).where(
        Ritual.community_id == community_id, func.lower(Ritual.name) == name.strip().lower()
    )
    if keep is not None:
        query = query.where(Ritual.id != keep)
    if await session.scalar(query):
        raise Invalid(
            f"A ritual called {name.strip()!r} exists already; pick another name or edit it."
        )


async def edit_ritual(
    session: AsyncSession, clock: Clock, actor: Actor, ritual_name: str, **changes: Any
) -> RitualView:
    """Change some fields of a ritual (moderators only); unknown fields are refused."""
    require(actor, Role.MODERATOR)
    ritual = await _ritual(session, actor.community_id, ritual_name)
    current = _spec_of(ritual)
    unknown = set(changes) - set(RitualSpec.__dataclass_fields__)
    if unknown:
        raise Invalid(f"Unknown ritual field(s): {', '.join(sorted(unknown))}.")
    updated = replace(current, **{k: v for k, v in changes.items() if v is not None})
    schedule = _validate(updated)
    await _refuse_taken_name(session, actor.community_id, updated.name, keep=ritual.id)
    ritual.name = updated.name.strip()
    ritual.schedule = schedule.to_json()
    ritual.timezone = updated.timezone
    ritual.prompt = updated.prompt.strip()
    ritual.discord_channel_id = updated.discord_channel_id
    ritual.slack_channel_id = updated.slack_channel_id
    ritual.thread_per_occurrence = updated.thread_per_occurrence
    ritual.reminder_minutes = list(updated.reminder_minutes)
    ritual.checkin_window_minutes = updated.checkin_window_minutes
    ritual.checkin_points = updated.checkin_points
    ritual.grace_minutes = updated.grace_minutes
    await session.flush()
    await record_audit(
        session,
        clock,
        community_id=actor.community_id,
        actor_member_id=actor.member_id,
        action="ritual.edit",
        target=f"ritual:{ritual.id}",
        detail={"fields": sorted(changes)},
    )
    return await _view(session, ritual, clock.now())


async def ritual_spec(session: AsyncSession, community_id: int, name: str) -> RitualSpec:
    """Return a ritual's current settings as a spec (to prefill an edit form)."""
    return _spec_of(await _ritual(session, community_id, name))


def _spec_of(ritual: Ritual) -> RitualSpec:
    return RitualSpec(
        name=ritual.name,
        schedule=_schedule_text(Schedule.from_json(ritual.schedule)),
        timezone=ritual.timezone,
        prompt=ritual.prompt,
        kind=ritual.kind,
        discord_channel_id=ritual.discord_channel_id,
        slack_channel_id=ritual.slack_channel_id,
        thread_per_occurrence=ritual.thread_per_occurrence,
        reminder_minutes=tuple(ritual.reminder_minutes),
        checkin_window_minutes=ritual.checkin_window_minutes,
        checkin_points=ritual.checkin_points,
        grace_minutes=ritual.grace_minutes,
    )


def _schedule_text(schedule: Schedule) -> str:
    clock = schedule.at.strftime("%H:%M")
    if schedule.kind == "once":
        return f"once {schedule.on} {clock}"
    days = ",".join(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in schedule.weekdays)
    if schedule.kind == "monthly":
        ordinal = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}[schedule.nth]
        return f"monthly {ordinal} {days} {clock}"
    if schedule.every_weeks > 1:
        return f"every {schedule.every_weeks} weeks {days} {clock}"
    return f"weekly {days} {clock}"


async def set_paused(
    session: AsyncSession, clock: Clock, actor: Actor, name: str, paused: bool
) -> RitualView:
    """Pause or resume a ritual (moderators only). Occurrences due while paused are skipped."""
    require(actor, Role.MODERATOR)
    ritual = await _ritual(session, actor.community_id, name)
    ritual.paused = paused
    if not paused:
        # Resuming must not replay what fell due during the pause: start counting from now.
        ritual.created_at = max(ritual.created_at, clock.now())
    await session.flush()
    await record_audit(
        session,
        clock,
        community_id=actor.community_id,
        actor_member_id=actor.member_id,
        action="ritual.pause" if paused else "ritual.resume",
        target=f"ritual:{ritual.id}",
    )
    return await _view(session, ritual, clock.now())


async def delete_ritual(session: AsyncSession, clock: Clock, actor: Actor, name: str) -> str:
    """Delete a ritual and its history (moderators only); return its name."""
    require(actor, Role.MODERATOR)
    ritual = await _ritual(session, actor.community_id, name)
    await record_audit(
        session,
        clock,
        community_id=actor.community_id,
        actor_member_id=actor.member_id,
        action="ritual.delete",
        target=f"ritual:{ritual.id}",
        detail={"name": ritual.name},
    )
    await session.delete(ritual)
    await session.flush()
    return ritual.name


async def list_rituals(session: AsyncSession, clock: Clock, community_id: int) -> list[RitualView]:
    """List the community's rituals, soonest first."""
    rituals = (
        await session.scalars(select(Ritual).where(Ritual.community_id == community_id))
    ).all()
    views = [await _view(session, ritual, clock.now()) for ritual in rituals]
    far = clock.now() + timedelta(days=3650)
    return sorted(views, key=lambda v: (v.next_fire or far, v.name))


async def ritual_names(
    session: AsyncSession, community_id: int, typed: str = "", limit: int = 25
) -> list[str]:
    """Return names of the community's rituals containing ``typed`` (any case), A to Z."""
    # A community has tens of rituals, not thousands: filtering here matches "ö" to "Ö" on
    # SQLite too, whose lower() knows only ASCII.
    names = (
        await session.scalars(select(Ritual.name).where(Ritual.community_id == community_id))
    ).all()
    needle = typed.strip().casefold()
    found = sorted((n for n in names if needle in n.casefold()), key=str.casefold)
    return found[:limit]


async def preview(
    session: AsyncSession, clock: Clock, community_id: int, name: str, count: int = 5
) -> list[FireTime]:
    """Return the next fire times of a ritual, local and UTC."""
    ritual = await _ritual(session, community_id, name)
    tz = zone(ritual.timezone)
    times = next_fire_times(
        Schedule.from_json(ritual.schedule), ritual.timezone, clock.now(), count
    )
    return [FireTime(local=t.astimezone(tz), utc=t) for t in times]


async def add_host(
    session: AsyncSession, clock: Clock, actor: Actor, name: str, member_id: int
) -> bool:
    """Make a member a host of the ritual (moderators only); False if they were already."""
    require(actor, Role.MODERATOR)
    ritual = await _ritual(session, actor.community_id, name)
    result = await session.execute(
        dialect_insert(session, RitualHost)
        .values(ritual_id=ritual.id, member_id=member_id)
        .on_conflict_do_nothing(index_elements=["ritual_id", "member_id"])
    )
    await record_audit(
        session,
        clock,
        community_id=actor.community_id,
        actor_member_id=actor.member_id,
        action="ritual.host_add",
        target=f"ritual:{ritual.id}",
        detail={"member_id": member_id},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_reminder(session: AsyncSession, actor: Actor, name: str, on: bool) -> bool:
    """Opt the caller in or out of DM reminders for a ritual; return the new state."""
    ritual = await _ritual(session, actor.community_id, name)
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
    ritual = await _ritual(session, actor.community_id, name)
    now = clock.now().replace(second=0, microsecond=0)
    occurrence_id = await _claim(session, clock, ritual, now, status="posted")
    if occurrence_id is None:
        raise Invalid("It already ran this minute; give it a moment.")
    await record_audit(
        session,
        clock,
        community_id=actor.community_id,
        actor_member_id=actor.member_id,
        action="ritual.run_now",
        target=f"ritual:{ritual.id}",
    )
    return occurrence_id


# ----------------------------------------------------------------------------- check-ins


async def checkin(
    session: AsyncSession, clock: Clock, *, occurrence_id: int, member_id: int, method: str
) -> CheckinResult:
    """Check a member in to an occurrence within its window; points are awarded once."""
    row = (
        await session.execute(
            select(RitualOccurrence, Ritual)
            .join(Ritual, Ritual.id == RitualOccurrence.ritual_id)
            .where(RitualOccurrence.id == occurrence_id)
        )
    ).first()
    if row is None:
        raise NotFound("That ritual post is no longer known.")
    occurrence, ritual = row
    now = clock.now()
    if occurrence.status == "missed":
        raise Invalid("That occurrence did not take place.")
    if now > occurrence.closes_at:
        raise Invalid(
            f"Check-in for {ritual.name} closed at {_local(occurrence.closes_at, ritual.timezone)}."
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
            source_key=f"ritual-checkin:{occurrence.id}:{member_id}",
            source_ref=f"ritual:{ritual.id}",
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
) -> int | None:
    """Return the occurrence a platform message (a ritual post, or its thread) belongs to."""
    key = await session.scalar(
        select(OutboxMessage.key).where(
            OutboxMessage.platform == platform,
            OutboxMessage.external_id == message_id,
            OutboxMessage.key.startswith("ritual-post:"),
        )
    )
    return int(key.split(":")[1]) if key else None


async def checkin_by_reply(
    session: AsyncSession, clock: Clock, *, platform: str, parent_id: str, member_id: int, text: str
) -> CheckinResult | None:
    """Check in a member who replied in a ritual's thread, and count the links they shared."""
    occurrence_id = await occurrence_for_post(session, platform=platform, message_id=parent_id)
    if occurrence_id is None:
        return None
    for url in dict.fromkeys(URL.findall(text)):
        await session.execute(
            dialect_insert(session, RitualLink)
            .values(occurrence_id=occurrence_id, url=url[:500], shares=1)
            .on_conflict_do_update(
                index_elements=["occurrence_id", "url"], set_={"shares": RitualLink.shares + 1}
            )
        )
    try:
        return await checkin(
            session, clock, occurrence_id=occurrence_id, member_id=member_id, method="reply"
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
        select(RitualOccurrence.id, Ritual.name)
        .join(Ritual, Ritual.id == RitualOccurrence.ritual_id)
        .where(
            Ritual.community_id == actor.community_id,
            RitualOccurrence.status.in_(("posted", "late")),
            RitualOccurrence.scheduled_at <= now,
            RitualOccurrence.closes_at >= now,
        )
        .order_by(RitualOccurrence.scheduled_at.desc())
    )
    if name:
        query = query.where(func.lower(Ritual.name) == name.strip().lower())
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
        session, clock, occurrence_id=open_now[0][0], member_id=actor.member_id, method="command"
    )


# ----------------------------------------------------------------------------- the scheduler


def _local(moment: datetime, timezone: str) -> str:
    return moment.astimezone(zone(timezone)).strftime("%a %d %b %H:%M %Z")


def _render(
    ritual: Ritual, occurrence_id: int, scheduled: datetime, *, platform: str, late: bool
) -> dict[str, Any]:
    when = _local(scheduled, ritual.timezone)
    if platform == "discord":
        title = f"**{discord_escape(ritual.name)}** · {when}"
    else:
        title = f"*{slack_escape(ritual.name)}* · {when}"
    # Slack turns <!channel> in text into a ping whatever parse= says: escape the prompt there.
    prompt = slack_escape(ritual.prompt) if platform == "slack" else ritual.prompt
    lines = [title, prompt]
    if late:
        lines.append("_(posted late: the bot was offline at the scheduled time)_")
    lines.append("Check in with the button, a reaction, or a reply in the thread.")
    payload: dict[str, Any] = {
        "text": "\n".join(lines),
        "buttons": [
            {"id": f"{CHECKIN_PREFIX}{occurrence_id}", "label": "Check in", "style": "primary"}
        ],
    }
    if platform == "discord" and ritual.thread_per_occurrence:
        local_day = scheduled.astimezone(zone(ritual.timezone)).strftime("%d %b")
        payload["thread"] = {"name": f"{ritual.name} · {local_day}"[:100]}
    return payload


async def _claim(
    session: AsyncSession, clock: Clock, ritual: Ritual, scheduled: datetime, *, status: str
) -> int | None:
    """Insert the occurrence (the unique key decides the winner) and queue its posts with it."""
    now = clock.now()
    window = timedelta(minutes=ritual.checkin_window_minutes)
    occurrence_id: int | None = await session.scalar(
        dialect_insert(session, RitualOccurrence)
        .values(
            ritual_id=ritual.id,
            scheduled_at=scheduled,
            status=status,
            fired_at=now,
            closes_at=max(scheduled, now) + window,
        )
        .on_conflict_do_nothing(index_elements=["ritual_id", "scheduled_at"])
        .returning(RitualOccurrence.id)
    )
    if occurrence_id is None or status == "missed":
        return occurrence_id
    for platform, channel in (
        ("discord", ritual.discord_channel_id),
        ("slack", ritual.slack_channel_id),
    ):
        if channel:
            await enqueue(
                session,
                clock,
                key=f"ritual-post:{occurrence_id}:{platform}",
                platform=platform,
                action="post",
                target=f"channel:{channel}",
                community_id=ritual.community_id,
                payload=_render(
                    ritual, occurrence_id, scheduled, platform=platform, late=status == "late"
                ),
            )
    return occurrence_id


async def _fire_due(
    session: AsyncSession, clock: Clock, ritual: Ritual, report: TickReport
) -> None:
    now = clock.now()
    since = max(ritual.created_at, now - LOOKBACK)
    due = fire_times(Schedule.from_json(ritual.schedule), ritual.timezone, since, now)
    if not due:
        return
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
        if await _claim(session, clock, ritual, scheduled, status="missed"):
            report.missed.append(ritual.id)
    lateness = now - latest
    if lateness > timedelta(minutes=ritual.grace_minutes):
        if await _claim(session, clock, ritual, latest, status="missed"):
            report.missed.append(ritual.id)
        return
    status = "posted" if lateness <= ON_TIME else "late"
    occurrence_id = await _claim(session, clock, ritual, latest, status=status)
    if occurrence_id is not None:
        (report.posted if status == "posted" else report.late).append(occurrence_id)


async def _remind(
    session: AsyncSession,
    clock: Clock,
    ritual: Ritual,
    report: TickReport,
    commands: CommandNames,
) -> None:
    if not ritual.reminder_minutes:
        return
    now = clock.now()
    horizon = now + timedelta(minutes=max(ritual.reminder_minutes))
    schedule = Schedule.from_json(ritual.schedule)
    for scheduled in fire_times(schedule, ritual.timezone, now, horizon):
        for lead in ritual.reminder_minutes:
            due_at = scheduled - timedelta(minutes=lead)
            if (
                not due_at <= now < min(scheduled, due_at + REMINDER_SLACK)
                or due_at < ritual.created_at
            ):
                continue
            stamp = scheduled.strftime("%Y%m%dT%H%M")
            await _queue_reminders(session, clock, ritual, scheduled, lead, stamp, report, commands)


def _lead_words(minutes: int) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "in 1 hour" if hours == 1 else f"in {hours} hours"
    return f"in {minutes} minutes"


async def _queue_reminders(
    session: AsyncSession,
    clock: Clock,
    ritual: Ritual,
    scheduled: datetime,
    lead: int,
    stamp: str,
    report: TickReport,
    commands: CommandNames,
) -> None:
    when = _local(scheduled, ritual.timezone)
    for platform, channel in (
        ("discord", ritual.discord_channel_id),
        ("slack", ritual.slack_channel_id),
    ):
        if not channel:
            continue
        name = discord_escape(ritual.name) if platform == "discord" else slack_escape(ritual.name)
        queued = await enqueue(
            session,
            clock,
            key=f"ritual-reminder:{ritual.id}:{stamp}:{lead}:{platform}",
            platform=platform,
            action="post",
            target=f"channel:{channel}",
            community_id=ritual.community_id,
            payload={"text": f"Reminder: {name} starts {_lead_words(lead)} ({when})."},
        )
        report.reminders += int(queued)
    recipients = (
        await session.execute(
            select(RitualReminderOptIn.member_id, RitualReminderOptIn.platform, Identity.user_id)
            .join(Identity, Identity.member_id == RitualReminderOptIn.member_id)
            .join(PlatformSpace, PlatformSpace.id == Identity.space_id)
            .where(
                RitualReminderOptIn.ritual_id == ritual.id,
                Identity.platform == RitualReminderOptIn.platform,
                PlatformSpace.community_id == ritual.community_id,
            )
            .order_by(RitualReminderOptIn.member_id)
        )
    ).all()
    seen: set[int] = set()
    dms: list[Queued] = []
    for member_id, platform, user_id in recipients:
        if member_id in seen:
            continue
        seen.add(member_id)
        name = discord_escape(ritual.name) if platform == "discord" else slack_escape(ritual.name)
        dms.append(
            Queued(
                key=f"ritual-remind-dm:{ritual.id}:{stamp}:{lead}:{member_id}",
                platform=platform,
                action="dm",
                target=dm_target(user_id),
                community_id=ritual.community_id,
                payload={
                    "text": f"{name} starts {_lead_words(lead)} ({when}). "
                    f"You asked for this reminder; {commands.spell(platform, 'ritual remind')} "
                    "turns it off."
                },
            )
        )
    report.reminder_dms += await enqueue_many(session, clock, dms)


async def _recap(
    session: AsyncSession, clock: Clock, occurrence: RitualOccurrence, ritual: Ritual
) -> bool:
    posts = (
        await session.execute(
            select(
                OutboxMessage.platform,
                OutboxMessage.status,
                OutboxMessage.external_id,
                OutboxMessage.target,
            ).where(OutboxMessage.key.startswith(f"ritual-post:{occurrence.id}:"))
        )
    ).all()
    if any(status in ("pending", "claimed", "sending") for _, status, _, _ in posts):
        return False  # the post itself has not gone out yet; recap after it
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
    first_timers = [
        name or "a new member" for member_id, name in attendees if member_id not in returning
    ]
    links = (
        await session.scalars(
            select(RitualLink.url)
            .where(RitualLink.occurrence_id == occurrence.id)
            .order_by(RitualLink.shares.desc(), RitualLink.url)
            .limit(3)
        )
    ).all()
    for platform, status, external_id, target in posts:
        escape = discord_escape if platform == "discord" else slack_escape
        bold = "**" if platform == "discord" else "*"
        lines = [f"{bold}{escape(ritual.name)} recap{bold}: {len(attendees)} checked in."]
        if first_timers:
            lines.append(
                "Welcome to our first-timers: "
                + ", ".join(escape(n) for n in first_timers[:10])
                + "!"
            )
        if links:
            lines.append("Most shared: " + " · ".join(f"<{link}>" for link in links))
        payload: dict[str, Any] = {"text": "\n".join(lines)}
        recap_target = target
        if status == "sent" and external_id:
            if platform == "discord" and ritual.thread_per_occurrence:
                recap_target = f"thread:{external_id}"
            elif platform == "slack":
                payload["thread_ts"] = external_id
        await enqueue(
            session,
            clock,
            key=f"ritual-recap:{occurrence.id}:{platform}",
            platform=platform,
            action="post",
            target=recap_target,
            payload=payload,
            community_id=ritual.community_id,
        )
    return True


async def tick(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    commands: CommandNames = DEFAULT_COMMANDS,
) -> TickReport:
    """Fire due occurrences, queue due reminders and recaps; safe in any number of processes."""
    report = TickReport()
    async with sessions() as session:
        rituals = (await session.scalars(select(Ritual.id).where(Ritual.paused.is_(False)))).all()
    for ritual_id in rituals:
        try:
            async with sessions() as session, session.begin():
                ritual = await session.get(Ritual, ritual_id)
                if ritual is None or ritual.paused:
                    continue
                await _fire_due(session, clock, ritual, report)
                await _remind(session, clock, ritual, report, commands)
        except Exception:
            log.exception("ritual %s: scheduling pass failed; the next tick retries", ritual_id)
    async with sessions() as session:
        closed = (
            (
                await session.execute(
                    select(RitualOccurrence.id)
                    .where(
                        RitualOccurrence.status.in_(("posted", "late")),
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


# ----------------------------------------------------------------------------- metrics


async def attendance(session: AsyncSession, ritual_id: int, week_start: date) -> Attendance:
    """Attendance rate for a ritual's week (Monday to Monday, local): distinct check-ins ÷ MAM, averaged."""
    ritual = await session.get(Ritual, ritual_id)
    if ritual is None:
        raise NotFound("No such ritual.")
    tz = zone(ritual.timezone)
    start = datetime.combine(week_start, datetime.min.time(), tzinfo=tz)
    end = start + timedelta(days=7)
    occurrences = (
        await session.scalars(
            select(RitualOccurrence).where(
                RitualOccurrence.ritual_id == ritual_id,
                RitualOccurrence.status.in_(("posted", "late")),
                RitualOccurrence.scheduled_at >= start,
                RitualOccurrence.scheduled_at < end,
            )
        )
    ).all()
    rates: list[float] = []
    total = 0
    for occurrence in occurrences:
        checkins = int(
            await session.scalar(
                select(func.count(distinct(RitualCheckin.member_id))).where(
                    RitualCheckin.occurrence_id == occurrence.id
                )
            )
            or 0
        )
        day_end = datetime.combine(
            occurrence.scheduled_at.astimezone(tz).date() + timedelta(days=1),
            datetime.min.time(),
            tzinfo=tz,
        )
        active = int(
            await session.scalar(
                select(func.count(distinct(Activity.member_id))).where(
                    Activity.community_id == ritual.community_id,
                    Activity.imported.is_(False),
                    Activity.occurred_at >= day_end - timedelta(days=30),
                    Activity.occurred_at < day_end,
                )
            )
            or 0
        )
        total += checkins
        if active:
            rates.append(checkins / active)
    rate = sum(rates) / len(rates) if rates else None
    return Attendance(ritual_id, week_start, len(occurrences), total, rate)


def local_week_start(moment: datetime, timezone: str) -> date:
    """Return the Monday of the local week containing ``moment``."""
    local = moment.astimezone(zone(timezone)).date()
    return local - timedelta(days=local.weekday())


def describe_leads(leads: Sequence[int]) -> str:
    """Say reminder lead times in words."""
    return ", ".join(_lead_words(m).removeprefix("in ") for m in leads) or "no reminders"


async def _tick_job(context: FeatureContext) -> TickReport:
    return await tick(context.sessions, context.clock, context.commands)


FEATURE = Feature(
    name="rituals",
    summary="Weekly rituals: scheduled posts, reminders, check-ins, recaps, attendance.",
    jobs=(Job("rituals", TICK_SECONDS, _tick_job),),
)
