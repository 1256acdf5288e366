"""Attendance: how many of the month's active members came to a ritual in a week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound
from bot.models import Activity, OccurrenceStatus, Ritual, RitualCheckin, RitualOccurrence
from bot.services.schedules import zone


@dataclass(frozen=True)
class Attendance:
    """Attendance of one ritual in one week: the mean of its occurrences' rates."""

    ritual_id: int
    week_start: date
    occurrences: int
    checkins: int
    rate: float | None


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
                RitualOccurrence.status.in_((OccurrenceStatus.POSTED, OccurrenceStatus.LATE)),
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
