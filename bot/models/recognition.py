"""Recognition: per-period score rows, the message rules' state, leaderboard opt-outs, answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.ids import new_uid


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


class AcceptedAnswer(Base):
    """A question and the reply its asker (or a moderator) marked as the answer.

    One row per question (its platform, channel or thread, and message id). The times are
    kept for the scorecard: ``asked_at`` (the question's message), ``first_response_at``
    (the first message after it by someone else, as the front end found it, never later
    than the answer), ``answered_at`` (the accepted answer's message, not when it was
    marked) and ``accepted_at`` (when it was marked). No message text is kept. A moderator
    who changes the answer moves its points: ``revision`` counts the changes, and each
    revision's points have their own ledger key.
    """

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("community_id", "platform", "channel_id", "message_id"),
        Index("ix_answers_accepted", "community_id", "accepted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True, default=new_uid)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    # Where the question is: a channel, or the thread (forum post) it opened.
    channel_id: Mapped[str] = mapped_column(String(64))
    # The question's message.
    message_id: Mapped[str] = mapped_column(String(64))
    asker_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    asked_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    answer_channel_id: Mapped[str] = mapped_column(String(64))
    answer_message_id: Mapped[str] = mapped_column(String(64))
    answerer_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    answered_at: Mapped[datetime]
    accepted_at: Mapped[datetime]
    accepted_by: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    revision: Mapped[int] = mapped_column(default=0)
