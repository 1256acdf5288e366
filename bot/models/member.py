"""Members, their platform identities and pending link codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.ids import new_uid


class Member(Base):
    """A person in a community, across platforms.

    ``points_total`` and ``activity_count`` are the score columns leaderboards read; they
    are kept equal to the sums of the member's activity rows.
    """

    __tablename__ = "members"
    __table_args__ = (Index("ix_members_community_points", "community_id", "points_total"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The member's public id (signed links, Stripe's client_reference_id). Rows written by the
    # raw ingest path have none until first needed: see bot.services.members.public_id.
    uid: Mapped[str | None] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64))
    points_total: Mapped[int] = mapped_column(default=0)
    activity_count: Mapped[int] = mapped_column(default=0)
    joined_at: Mapped[datetime]
    last_active_at: Mapped[datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    erased_at: Mapped[datetime | None]


class Identity(Base):
    """One platform account of a member (a Discord user in a guild, a Slack user in a workspace)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "space_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("platform_spaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


class LinkCode(Base):
    """A one-time code shown on one platform and entered on the other to link identities."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ErasedIdentity(Base):
    """A platform account whose member asked to be erased, kept only as a one-way digest.

    Flywheel does not bring such a person back on a passive signal (a reaction, a reply in
    a thread): only their own new explicit action (a command, a button) starts a fresh,
    empty member, and they are told so.
    """

    __tablename__ = "erased_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    erased_at: Mapped[datetime]
