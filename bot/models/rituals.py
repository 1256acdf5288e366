"""Rituals, their occurrences, check-ins, hosts, reminder opt-ins and shared links."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from bot.db.base import Base, status_enum
from bot.ids import new_uid
from bot.inputs import NAME_KEY_LENGTH, name_key


class OccurrenceStatus(StrEnum):
    """How an occurrence went: posted on time, posted late, or missed (never posted)."""

    POSTED = "posted"
    LATE = "late"
    MISSED = "missed"


class CheckinMethod(StrEnum):
    """How a member checked in."""

    BUTTON = "button"
    REACTION = "reaction"
    REPLY = "reply"
    COMMAND = "command"


class Ritual(Base):
    """A recurring community moment with a schedule in its own time zone."""

    __tablename__ = "rituals"
    __table_args__ = (UniqueConstraint("community_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What leaves the process (outbox keys, audit targets) names the ritual by this.
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    # Set with the name (bot.inputs.name_key): two names are the same ritual by this.
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))
    kind: Mapped[str] = mapped_column(String(32))
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON)
    timezone: Mapped[str] = mapped_column(String(64))
    # The ritual's own channels (one per platform), a destination row.
    destination_id: Mapped[int] = mapped_column(ForeignKey("destinations.id"))
    prompt: Mapped[str] = mapped_column(Text)
    thread_per_occurrence: Mapped[bool] = mapped_column(default=True)
    reminder_minutes: Mapped[list[int]] = mapped_column(JSON, default=list)
    checkin_window_minutes: Mapped[int] = mapped_column(default=120)
    checkin_points: Mapped[int] = mapped_column(default=10)
    grace_minutes: Mapped[int] = mapped_column(default=60)
    paused: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]  # never changes
    # Fire times count from here: creation, or the last resume (a pause skips what fell due).
    active_since: Mapped[datetime]
    # The earliest fire time not yet handled; NULL when paused or a `once` schedule is spent.
    # The scheduler wakes only rituals whose time has come (see scheduler.due_rituals).
    next_fire_at: Mapped[datetime | None] = mapped_column(index=True)
    # The earliest reminder due time not yet handled; NULL when paused or without reminders.
    next_remind_at: Mapped[datetime | None] = mapped_column(index=True)

    @validates("name")
    def _key_name(self, _: str, name: str) -> str:
        self.name_key = name_key(name)
        return name


class RitualOccurrence(Base):
    """One firing of a ritual; the unique (ritual, scheduled time) key makes it happen once."""

    __tablename__ = "ritual_occurrences"
    __table_args__ = (
        UniqueConstraint("ritual_id", "scheduled_at"),
        Index("ix_ritual_occurrences_status_closes", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Button ids, outbox keys and the post registry name the occurrence by this.
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    ritual_id: Mapped[int] = mapped_column(ForeignKey("rituals.id", ondelete="CASCADE"))
    scheduled_at: Mapped[datetime]
    status: Mapped[OccurrenceStatus] = mapped_column(status_enum(OccurrenceStatus, "status"))
    fired_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    recap_at: Mapped[datetime | None]


class RitualCheckin(Base):
    """A member showing up to an occurrence; once per member and occurrence."""

    __tablename__ = "ritual_checkins"
    __table_args__ = (UniqueConstraint("occurrence_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("ritual_occurrences.id", ondelete="CASCADE")
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    method: Mapped[CheckinMethod] = mapped_column(status_enum(CheckinMethod, "method"))
    at: Mapped[datetime]


class RitualHost(Base):
    """A host or co-host of a ritual."""

    __tablename__ = "ritual_hosts"
    __table_args__ = (UniqueConstraint("ritual_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ritual_id: Mapped[int] = mapped_column(ForeignKey("rituals.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))


class RitualReminderOptIn(Base):
    """A member who wants reminders of a ritual by DM, on one platform."""

    __tablename__ = "ritual_reminder_optins"
    __table_args__ = (UniqueConstraint("ritual_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ritual_id: Mapped[int] = mapped_column(ForeignKey("rituals.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))


class RitualLink(Base):
    """A link a member shared in an occurrence's thread, counted for the recap (once per member)."""

    __tablename__ = "ritual_links"
    __table_args__ = (UniqueConstraint("occurrence_id", "url", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("ritual_occurrences.id", ondelete="CASCADE")
    )
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    shared_at: Mapped[datetime]
