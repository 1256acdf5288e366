"""Destinations: where a community's posts of one purpose go, on each platform."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base


class Destination(Base):
    """A place posts go: a community's channels for a purpose, or a ritual's own channels.

    ``purpose`` names the shared ones (``rituals``, ``announcements``…); a destination that
    belongs to one ritual has none.
    """

    __tablename__ = "destinations"
    __table_args__ = (UniqueConstraint("community_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    purpose: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class DestinationChannel(Base):
    """The channel of a destination on one platform."""

    __tablename__ = "destination_channels"
    __table_args__ = (UniqueConstraint("destination_id", "platform"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    destination_id: Mapped[int] = mapped_column(ForeignKey("destinations.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(64))
