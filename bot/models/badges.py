"""Badges: what a community awards (from bot.toml or made by moderators) and who holds what."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from bot.db.base import Base
from bot.ids import new_uid
from bot.inputs import NAME_KEY_LENGTH, name_key


class Badge(Base):
    """A badge: its look, and either a rule over a member's counters or manual only.

    ``source`` is ``config`` for badges bot.toml defines (and the built-ins), synced at
    start-up, or ``runtime`` for those moderators create with ``/badge create``. A badge
    bot.toml disables (or stops naming) stays, with ``enabled`` False: its awards are kept.
    """

    __tablename__ = "badges"
    __table_args__ = (
        UniqueConstraint("community_id", "slug"),
        UniqueConstraint("community_id", "name_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(60))
    # Set with the name (bot.inputs.name_key): two names are the same badge by this.
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))
    emoji: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(300), default="")
    # The rule ``<rule_counter> >= <rule_threshold>``; both empty for a manual-only badge.
    rule_counter: Mapped[str | None] = mapped_column(String(32))
    rule_threshold: Mapped[int | None]
    # A neutral access key ([discord.access] / [slack.access]) granted with the badge.
    access: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(8))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]

    @validates("name")
    def _key_name(self, _: str, name: str) -> str:
        self.name_key = name_key(name)
        return name


class MemberBadge(Base):
    """A badge a member holds (or held: ``revoked_at`` set), at most one row per badge.

    The unique (member, badge) pair decides who awards: ``INSERT … ON CONFLICT DO NOTHING
    RETURNING`` returns the row to one transaction only, however many cross the rule at once.
    A revoked award keeps its row, so a rule does not hand the badge straight back; a
    moderator's award brings it back (a fresh ``uid``, so its messages are new ones).
    """

    __tablename__ = "member_badges"
    __table_args__ = (
        UniqueConstraint("member_id", "badge_id"),
        Index("ix_member_badges_badge", "badge_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names the award in outbox keys (a re-award after a revocation gets a new one).
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    badge_id: Mapped[int] = mapped_column(ForeignKey("badges.id", ondelete="CASCADE"))
    awarded_at: Mapped[datetime]
    # ``rule`` (its counter crossed), ``manual`` (a moderator), ``import`` (a roster file)
    # or ``merged`` (linking).
    via: Mapped[str] = mapped_column(String(8))
    awarded_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None]
