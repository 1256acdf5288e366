"""Rituals' part of `/privacy export`, `/privacy delete` and `flywheel export`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.reassign import reassign
from bot.features import ExportTable
from bot.models import (
    Ritual,
    RitualCheckin,
    RitualHost,
    RitualLink,
    RitualOccurrence,
    RitualReminderOptIn,
)

MEMBER_TABLES = (
    "rituals",
    "ritual_checkins",
    "ritual_hosts",
    "ritual_reminder_optins",
    "ritual_links",
)


async def export_member(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return a member's check-ins, reminder opt-ins, hosting and shared links."""
    checkins = await session.execute(
        select(Ritual.name, RitualOccurrence.scheduled_at, RitualCheckin.method, RitualCheckin.at)
        .join(RitualOccurrence, RitualOccurrence.id == RitualCheckin.occurrence_id)
        .join(Ritual, Ritual.id == RitualOccurrence.ritual_id)
        .where(RitualCheckin.member_id == member_id)
        .order_by(RitualCheckin.at)
    )
    optins = await session.execute(
        select(Ritual.name, RitualReminderOptIn.platform)
        .join(Ritual, Ritual.id == RitualReminderOptIn.ritual_id)
        .where(RitualReminderOptIn.member_id == member_id)
        .order_by(Ritual.name)
    )
    hosting = await session.scalars(
        select(Ritual.name)
        .join(RitualHost, RitualHost.ritual_id == Ritual.id)
        .where(RitualHost.member_id == member_id)
        .order_by(Ritual.name)
    )
    links = await session.execute(
        select(Ritual.name, RitualLink.url, RitualLink.shared_at)
        .join(RitualOccurrence, RitualOccurrence.id == RitualLink.occurrence_id)
        .join(Ritual, Ritual.id == RitualOccurrence.ritual_id)
        .where(RitualLink.member_id == member_id)
        .order_by(RitualLink.shared_at)
    )
    created = await session.scalars(
        select(Ritual.name).where(Ritual.created_by == member_id).order_by(Ritual.name)
    )
    return {
        "checkins": [
            {
                "ritual": name,
                "occurrence": scheduled.isoformat(),
                "method": str(method),
                "at": at.isoformat(),
            }
            for name, scheduled, method, at in checkins
        ],
        "reminders": [{"ritual": name, "platform": platform} for name, platform in optins],
        "hosting": list(hosting),
        "links_shared": [
            {"ritual": name, "url": url, "at": at.isoformat()} for name, url, at in links
        ],
        "rituals_created": list(created),
    }


async def merge_members(session: AsyncSession, old: int, new: int, clock: Clock) -> None:
    """Move a linked member's check-ins, opt-ins, hosting, links and rituals to the kept one."""
    await reassign(session, RitualCheckin, "member_id", old, new, unique_with=("occurrence_id",))
    await reassign(session, RitualReminderOptIn, "member_id", old, new, unique_with=("ritual_id",))
    await reassign(session, RitualHost, "member_id", old, new, unique_with=("ritual_id",))
    await reassign(session, RitualLink, "member_id", old, new, unique_with=("occurrence_id", "url"))
    await reassign(session, Ritual, "created_by", old, new)


async def erase_member(session: AsyncSession, member_id: int, clock: Clock) -> None:
    """Remove a member's check-ins, opt-ins, hosting and shared links; forget who created what."""
    for model in (RitualCheckin, RitualReminderOptIn, RitualHost, RitualLink):
        await session.execute(delete(model).where(model.member_id == member_id))
    await session.execute(
        update(Ritual).where(Ritual.created_by == member_id).values(created_by=None)
    )


def _of_rituals(model: Any, join: Any) -> Any:
    def query(community_id: int) -> Any:
        return select(model).join(Ritual, join).where(Ritual.community_id == community_id)

    return query


def _of_occurrences(model: Any) -> Any:
    def query(community_id: int) -> Any:
        return (
            select(model)
            .join(RitualOccurrence, RitualOccurrence.id == model.occurrence_id)
            .join(Ritual, Ritual.id == RitualOccurrence.ritual_id)
            .where(Ritual.community_id == community_id)
        )

    return query


EXPORT_TABLES = (
    ExportTable(
        "rituals",
        Ritual,
        (
            "id",
            "uid",
            "name",
            "kind",
            "schedule",
            "timezone",
            "destination_id",
            "prompt",
            "thread_per_occurrence",
            "reminder_minutes",
            "checkin_window_minutes",
            "checkin_points",
            "grace_minutes",
            "paused",
            "created_by",
            "created_at",
        ),
    ),
    ExportTable(
        "ritual_occurrences",
        RitualOccurrence,
        ("id", "uid", "ritual_id", "scheduled_at", "status", "fired_at", "closes_at", "recap_at"),
        _of_rituals(RitualOccurrence, Ritual.id == RitualOccurrence.ritual_id),
    ),
    ExportTable(
        "ritual_checkins",
        RitualCheckin,
        ("id", "occurrence_id", "member_id", "method", "at"),
        _of_occurrences(RitualCheckin),
    ),
    ExportTable(
        "ritual_hosts",
        RitualHost,
        ("id", "ritual_id", "member_id"),
        _of_rituals(RitualHost, Ritual.id == RitualHost.ritual_id),
    ),
    ExportTable(
        "ritual_reminder_optins",
        RitualReminderOptIn,
        ("id", "ritual_id", "member_id", "platform"),
        _of_rituals(RitualReminderOptIn, Ritual.id == RitualReminderOptIn.ritual_id),
    ),
    ExportTable(
        "ritual_links",
        RitualLink,
        ("id", "occurrence_id", "member_id", "url", "shared_at"),
        _of_occurrences(RitualLink),
    ),
)
