"""The append-only activity ledger that points, leaderboards and stages derive from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base


class Activity(Base):
    """Something a member did, worth some points, counted once per source key."""

    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("community_id", "source_key"),
        Index("ix_activities_member_occurred", "member_id", "occurred_at"),
        Index("ix_activities_community_occurred", "community_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(default=0)
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    source_key: Mapped[str] = mapped_column(String(200))
    source_ref: Mapped[str | None] = mapped_column(String(500))
    imported: Mapped[bool] = mapped_column(default=False)
