"""Recognition: per-period score rows, the message rules' state, and leaderboard opt-outs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base


class MemberScore(Base):
    """A member's score on one board for one period (``all``, a week, a month).

    Kept in the same transaction as the ledger rows it sums, so a board is read from
    here, in index order, and never from the ledger. The previous periods' rows stay.
    """

    __tablename__ = "member_scores"
    __table_args__ = (
        UniqueConstraint("community_id", "board", "period", "period_start", "member_id"),
        Index("ix_member_scores_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    board: Mapped[str] = mapped_column(String(16))
    period: Mapped[str] = mapped_column(String(8))
    # The period's first moment (local midnight in the community's zone), in UTC.
    period_start: Mapped[datetime]
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


# The order a board reads: highest score first, ties by member id (a mixed order, so the
# index must say it: scanned backwards an ascending index would give ties by id descending).
Index(
    "ix_member_scores_board",
    MemberScore.community_id,
    MemberScore.board,
    MemberScore.period,
    MemberScore.period_start,
    MemberScore.score.desc(),
    MemberScore.member_id,
)


class MessageState(Base):
    """When a member's last counted message was, and its text's digest (the chat rules' memory)."""

    __tablename__ = "recognition_message_state"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    last_counted_at: Mapped[datetime]
    last_digest: Mapped[str] = mapped_column(String(64))


class LeaderboardOptOut(Base):
    """A member who asked to be left off public boards (they still see their own rank)."""

    __tablename__ = "leaderboard_optouts"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    since: Mapped[datetime]


class BoardScoreCount(Base):
    """How many public members have exactly ``score`` on a board in a period (scores above 0).

    A rank is 1 + the members with a higher score: summed here over the distinct scores
    above, a few hundred rows, instead of counting up to a million score rows.
    """

    __tablename__ = "board_score_counts"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    board: Mapped[str] = mapped_column(String(16), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    score: Mapped[int] = mapped_column(primary_key=True)
    members: Mapped[int] = mapped_column(default=0)
