"""The post registry: what each message Flywheel sent is about, and where it is."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base


class PostRecord(Base):
    """A message the outbox delivered: its subject, platform, channel, id and thread.

    Reactions, thread replies, button clicks and edits find their subject here, so nothing
    depends on outbox rows once they are sent (they are pruned after the retention).
    ``member_id`` is the recipient of a DM.
    """

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_platform_message", "platform", "message_id"),
        Index("ix_posts_platform_thread", "platform", "thread_id"),
        Index("ix_posts_subject", "subject_kind", "subject_id", "platform"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int | None] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE")
    )
    outbox_key: Mapped[str] = mapped_column(String(200), unique=True)
    subject_kind: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    sent_at: Mapped[datetime]
