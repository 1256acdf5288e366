"""The outbox: every side effect that leaves the process, as a row."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, status_enum


class OutboxStatus(StrEnum):
    """Where an outbox row is in its life (see :class:`OutboxMessage`)."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class OutboxMessage(Base):
    """A post, DM, role change or webhook waiting to be sent exactly once.

    ``status`` moves pending → claimed (in a dispatcher's batch) → sending (its try has
    begun) → sent, or back to pending to retry, or → dead with ``last_error`` after too
    many failures or a permanent one. A row blocked on something an owner can fix stays
    pending with ``blocked_at`` set and is tried again slowly until it goes through. A row still claimed or sending past ``lease_until``
    belongs to a dispatcher that died and is taken up again; only a "sending" one counts
    that try as an attempt.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_not_before", "status", "not_before"),
        # A dispatcher's "what is due for my platforms?": it never reads other platforms'
        # rows (a web process leaves the bot's to it, however many wait).
        Index("ix_outbox_platform_status_not_before", "platform", "status", "not_before"),
        Index("ix_outbox_platform_external_id", "platform", "external_id"),
        # Deleting or pausing a subject (a ritual) cancels what is queued about it.
        Index("ix_outbox_subject", "subject_kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    platform: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    # The serialised effect of bot.messages as JSON text: {"v": 1, "effect": {...}}.
    payload: Mapped[str] = mapped_column(Text, info={"member_text": True})
    subject_kind: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[OutboxStatus] = mapped_column(
        status_enum(OutboxStatus, "status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set while the row is blocked on something an owner can fix (bot.outbox.Blocked):
    # when ``last_error``, the reason, was first seen. Cleared by any other outcome.
    blocked_at: Mapped[datetime | None]


class OutboxMember(Base):
    """A member an outbox row is addressed to or names: erasure finds their rows by this."""

    __tablename__ = "outbox_members"
    __table_args__ = (UniqueConstraint("outbox_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
