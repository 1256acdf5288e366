"""Reading boards: the top of a board and a member's own rank, from the score rows alone.

``top`` walks the index ``ix_member_scores_board`` in its order (highest score first, ties
by member id) and stops after ``limit``; ``rank_of`` counts two index ranges. Neither reads
the ledger.

Members who opted out of public boards (:func:`set_leaderboard_public`) are left out of
``top`` and are *not counted* in anyone else's rank: counting them would let others infer
a hidden member above them. They still get their own rank among the public members.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import Invalid, NotFound
from bot.models import LeaderboardOptOut, Member, MemberScore
from bot.services.recognition.periods import board_of, period_of, period_start
from bot.services.recognition.scores import community_zone

MAX_LIMIT = 100


@dataclass(frozen=True)
class BoardEntry:
    """One line of a board."""

    rank: int
    member_id: int
    display_name: str | None
    score: int


@dataclass(frozen=True)
class BoardPage:
    """A page of a board for the period holding the moment asked about."""

    board: str
    period: str
    period_start: datetime
    entries: tuple[BoardEntry, ...]


@dataclass(frozen=True)
class OwnRank:
    """A member's place on a board; ``public`` is False when they hid themselves."""

    board: str
    period: str
    period_start: datetime
    member_id: int
    score: int
    rank: int
    public: bool


def _on_board(community_id: int, board: str, period: str, start: datetime) -> Any:
    return and_(
        MemberScore.community_id == community_id,
        MemberScore.board == board,
        MemberScore.period == period,
        MemberScore.period_start == start,
    )


async def top(
    session: AsyncSession,
    community_id: int,
    board: str,
    period: str,
    at: datetime,
    limit: int = 10,
    offset: int = 0,
) -> BoardPage:
    """Return the public members at the top of a board, highest score first."""
    chosen, span = board_of(board), period_of(period)
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise Invalid(f"A page holds 1 to {MAX_LIMIT} members.", field="limit")
    start = period_start(span, at, await community_zone(session, community_id))
    rows = await session.execute(
        select(MemberScore.member_id, MemberScore.score, Member.display_name)
        .join(Member, Member.id == MemberScore.member_id)
        .where(
            _on_board(community_id, chosen.value, span.value, start),
            MemberScore.score > 0,
            ~exists().where(LeaderboardOptOut.member_id == MemberScore.member_id),
        )
        .order_by(MemberScore.score.desc(), MemberScore.member_id)
        .limit(limit)
        .offset(offset)
    )
    entries = tuple(
        BoardEntry(offset + index + 1, row.member_id, row.display_name, row.score)
        for index, row in enumerate(rows)
    )
    return BoardPage(chosen.value, span.value, start, entries)


async def rank_of(
    session: AsyncSession,
    community_id: int,
    board: str,
    period: str,
    at: datetime,
    member_id: int,
) -> OwnRank:
    """Return a member's score and rank: 1 + the public members ahead (more, or equal and older)."""
    chosen, span = board_of(board), period_of(period)
    start = period_start(span, at, await community_zone(session, community_id))
    on_board = _on_board(community_id, chosen.value, span.value, start)
    score = await session.scalar(
        select(MemberScore.score).where(on_board, MemberScore.member_id == member_id)
    )
    score = score or 0
    ahead = or_(
        MemberScore.score > score,
        and_(MemberScore.score == score, MemberScore.member_id < member_id),
    )
    # Two clean index ranges rather than one OR, which SQLite would not bound.
    counted = await session.execute(
        select(
            select(func.count()).where(on_board, MemberScore.score > score).scalar_subquery(),
            select(func.count())
            .where(on_board, MemberScore.score == score, MemberScore.member_id < member_id)
            .scalar_subquery(),
            select(func.count())
            .select_from(LeaderboardOptOut)
            .join(
                MemberScore,
                and_(MemberScore.member_id == LeaderboardOptOut.member_id, on_board),
            )
            .where(LeaderboardOptOut.community_id == community_id, ahead)
            .scalar_subquery(),
            exists().where(LeaderboardOptOut.member_id == member_id),
        )
    )
    more, equal_older, hidden_ahead, hidden = counted.one()
    return OwnRank(
        chosen.value,
        span.value,
        start,
        member_id,
        int(score),
        1 + int(more) + int(equal_older) - int(hidden_ahead),
        public=not hidden,
    )


async def set_leaderboard_public(
    session: AsyncSession, clock: Clock, member_id: int, on: bool
) -> bool:
    """Show (``on``) or hide the member on public boards; return the new setting."""
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise NotFound("That member is not known here.")
    if on:
        await session.execute(
            delete(LeaderboardOptOut).where(LeaderboardOptOut.member_id == member_id)
        )
    else:
        await session.execute(
            dialect_insert(session, LeaderboardOptOut)
            .values(member_id=member_id, community_id=member.community_id, since=clock.now())
            .on_conflict_do_nothing(index_elements=["member_id"])
        )
    return on


async def is_leaderboard_public(session: AsyncSession, member_id: int) -> bool:
    """Return whether the member shows on public boards."""
    hidden = await session.scalar(
        select(LeaderboardOptOut.member_id).where(LeaderboardOptOut.member_id == member_id)
    )
    return hidden is None
