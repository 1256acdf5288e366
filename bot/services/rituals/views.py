"""Reading rituals: find one by name, show it, list them, preview their next fire times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.destinations import ChannelRef
from bot.errors import NotFound
from bot.inputs import name_key, shorten
from bot.models import Member, Ritual, RitualHost
from bot.services.rituals._channels import channel_of, channels_of
from bot.services.rituals.specs import RitualSpec, schedule_text
from bot.services.schedules import Schedule, next_fire_times, zone


@dataclass(frozen=True)
class RitualView:
    """A ritual as commands show it."""

    id: int
    name: str
    kind: str
    schedule: str
    timezone: str
    channels: tuple[ChannelRef, ...]
    paused: bool
    next_fire: datetime | None
    reminder_minutes: tuple[int, ...]
    checkin_points: int
    hosts: tuple[str, ...] = ()

    def channel_on(self, platform: str) -> str | None:
        """Return the channel the ritual posts in on a platform, if any."""
        return next((c.channel_id for c in self.channels if c.platform == platform), None)


@dataclass(frozen=True)
class FireTime:
    """One upcoming firing, in the ritual's zone and in UTC."""

    local: datetime
    utc: datetime


async def find_ritual(session: AsyncSession, community_id: int, name: str) -> Ritual:
    """Return the community's ritual of that name (any capitals), or raise NotFound."""
    ritual = await session.scalar(
        select(Ritual).where(Ritual.community_id == community_id, Ritual.name_key == name_key(name))
    )
    if ritual is None:
        names = (
            await session.scalars(select(Ritual.name).where(Ritual.community_id == community_id))
        ).all()
        known = ", ".join(sorted(names)) or "none yet"
        raise NotFound(f"There is no ritual called {shorten(name)!r}. Rituals here: {known}.")
    return ritual


async def view_of(session: AsyncSession, ritual: Ritual, now: datetime) -> RitualView:
    """Return what commands show of a ritual."""
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
        channels=await channels_of(session, ritual),
        paused=ritual.paused,
        next_fire=upcoming[0] if upcoming and not ritual.paused else None,
        reminder_minutes=tuple(ritual.reminder_minutes),
        checkin_points=ritual.checkin_points,
        hosts=tuple(sorted(h or "a member" for h in hosts)),
    )


async def spec_of(session: AsyncSession, ritual: Ritual, platform: str) -> RitualSpec:
    """Return a ritual's settings as a spec, with its channel on ``platform``."""
    return RitualSpec(
        name=ritual.name,
        schedule=schedule_text(Schedule.from_json(ritual.schedule)),
        timezone=ritual.timezone,
        prompt=ritual.prompt,
        kind=ritual.kind,
        channel_id=await channel_of(session, ritual, platform),
        thread_per_occurrence=ritual.thread_per_occurrence,
        reminder_minutes=tuple(ritual.reminder_minutes),
        checkin_window_minutes=ritual.checkin_window_minutes,
        checkin_points=ritual.checkin_points,
        grace_minutes=ritual.grace_minutes,
    )


async def ritual_spec(
    session: AsyncSession, community_id: int, name: str, *, platform: str
) -> RitualSpec:
    """Return a ritual's current settings as a spec (to prefill an edit form on ``platform``)."""
    return await spec_of(session, await find_ritual(session, community_id, name), platform)


async def list_rituals(session: AsyncSession, clock: Clock, community_id: int) -> list[RitualView]:
    """List the community's rituals, soonest first."""
    rituals = (
        await session.scalars(select(Ritual).where(Ritual.community_id == community_id))
    ).all()
    views = [await view_of(session, ritual, clock.now()) for ritual in rituals]
    far = clock.now() + timedelta(days=3650)
    return sorted(views, key=lambda v: (v.next_fire or far, v.name))


async def ritual_names(
    session: AsyncSession, community_id: int, typed: str = "", limit: int = 25
) -> list[str]:
    """Return names of the community's rituals containing ``typed`` (any case), A to Z."""
    names = await session.scalars(
        select(Ritual.name)
        .where(
            Ritual.community_id == community_id,
            Ritual.name_key.contains(name_key(typed), autoescape=True),
        )
        .order_by(Ritual.name_key)
        .limit(limit)
    )
    return list(names)


async def preview(
    session: AsyncSession, clock: Clock, community_id: int, name: str, count: int = 5
) -> list[FireTime]:
    """Return the next fire times of a ritual, local and UTC."""
    ritual = await find_ritual(session, community_id, name)
    tz = zone(ritual.timezone)
    times = next_fire_times(
        Schedule.from_json(ritual.schedule), ritual.timezone, clock.now(), count
    )
    return [FireTime(local=t.astimezone(tz), utc=t) for t in times]
