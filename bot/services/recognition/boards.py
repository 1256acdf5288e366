"""Reading boards: the top of a board and a member's own rank, from the score rows alone.

``top`` walks the index ``ix_member_scores_board`` in its order (highest score first, ties
by member id) and stops after ``limit``. A rank is 1 + the public members with a higher
score (tied members share it, listed by member id): summed from ``board_score_counts`` (how
many public members have each score), kept with the score rows, so it costs the number of
distinct scores above, not of members. Neither reads the ledger.

Members who opted out of public boards (:func:`set_leaderboard_public`) are left out of
``top`` and are *not counted* in anyone else's rank: counting them would let others infer
a hidden member above them. They still get their own rank among the public members.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, delete, exists, func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import UTCDateTime, dialect_insert
from bot.db.driver import sqlite_driver, sqlite_time
from bot.errors import Invalid, NotFound
from bot.models import BoardScoreCount, LeaderboardOptOut, Member, MemberScore
from bot.services.recognition.periods import (
    ALL_TIME_START,
    Period,
    board_of,
    period_of,
    period_start,
)
from bot.services.recognition.scores import community_zone, count_member

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


# Built once with named parameters: a board is read on every /rank and /leaderboard, and
# building and keying the statement each time cost more than running it.
_START = bindparam("start", type_=UTCDateTime())
_ON_BOARD = and_(
    MemberScore.community_id == bindparam("community"),
    MemberScore.board == bindparam("board"),
    MemberScore.period == bindparam("period"),
    MemberScore.period_start == _START,
)


def _ahead(score: Any) -> Any:
    """Return a scalar subquery: public members on the board with a score above ``score``."""
    return (
        select(func.coalesce(func.sum(BoardScoreCount.members), 0))
        .where(
            BoardScoreCount.community_id == bindparam("community"),
            BoardScoreCount.board == bindparam("board"),
            BoardScoreCount.period == bindparam("period"),
            BoardScoreCount.period_start == _START,
            BoardScoreCount.score > score,
        )
        .scalar_subquery()
    )


_TOP = (
    select(
        MemberScore.member_id,
        MemberScore.score,
        Member.display_name,
        _ahead(MemberScore.score),
    )
    .join(Member, Member.id == MemberScore.member_id)
    .where(
        _ON_BOARD,
        MemberScore.score > 0,
        ~exists().where(LeaderboardOptOut.member_id == MemberScore.member_id),
    )
    .order_by(MemberScore.score.desc(), MemberScore.member_id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_OWN = (
    select(MemberScore.score)
    .where(_ON_BOARD, MemberScore.member_id == bindparam("member"))
    .scalar_subquery()
)
_RANK = select(
    func.coalesce(_OWN, 0),
    _ahead(case((func.coalesce(_OWN, 0) > 0, _OWN), else_=0)),
    exists().where(LeaderboardOptOut.member_id == bindparam("member")),
)


def _sqlite_text(statement: Select[Any]) -> tuple[str, dict[str, Any]]:
    """Return the statement as SQLite text with named parameters, and its constant values."""
    compiled = statement.compile(dialect=sqlite.dialect(paramstyle="named"))
    return str(compiled), dict(compiled.params)


# On SQLite a board is read straight through the driver (see bot.db.driver): one trip to
# its thread, where the same statement through the session takes four.
_TOP_SQLITE = _sqlite_text(_TOP)
_RANK_SQLITE = _sqlite_text(_RANK)


async def _read(
    session: AsyncSession,
    statement: Select[Any],
    text: tuple[str, dict[str, Any]],
    params: dict[str, Any],
) -> list[Any]:
    driver = await sqlite_driver(session)
    if driver is None:
        return list(await session.execute(statement, params))
    sql, constants = text
    return list(
        await driver.execute_fetchall(
            sql, {**constants, **params, "start": sqlite_time(params["start"])}
        )
    )


async def _start(session: AsyncSession, community_id: int, span: Period, at: datetime) -> datetime:
    # All-time has one fixed start: no need to ask for the community's time zone.
    if span is Period.ALL:
        return ALL_TIME_START
    return period_start(span, at, await community_zone(session, community_id))


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
    start = await _start(session, community_id, span, at)
    where = {"community": community_id, "board": chosen.value, "period": span.value}
    rows = await _read(
        session, _TOP, _TOP_SQLITE, {**where, "start": start, "limit": limit, "offset": offset}
    )
    entries = tuple(
        BoardEntry(1 + int(ahead), member_id, name, score) for member_id, score, name, ahead in rows
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
    """Return a member's score and rank: 1 + the public members with a higher score."""
    chosen, span = board_of(board), period_of(period)
    start = await _start(session, community_id, span, at)
    where = {"community": community_id, "board": chosen.value, "period": span.value}
    ((score, ahead, hidden),) = await _read(
        session, _RANK, _RANK_SQLITE, {**where, "start": start, "member": member_id}
    )
    return OwnRank(
        chosen.value,
        span.value,
        start,
        member_id,
        int(score),
        1 + int(ahead),
        public=not hidden,
    )


async def set_leaderboard_public(
    session: AsyncSession, clock: Clock, member_id: int, on: bool
) -> bool:
    """Show (``on``) or hide the member on public boards; return the new setting."""
    # The member row's lock orders this against a batch adding to their scores (it updates
    # the row before it reads who is hidden), so the public counts never miss a move.
    member = await session.get(Member, member_id, with_for_update=True)
    if member is None or member.erased_at is not None:
        raise NotFound("That member is not known here.")
    if on:
        shown = await session.execute(
            delete(LeaderboardOptOut).where(LeaderboardOptOut.member_id == member_id)
        )
        changed = shown.rowcount == 1  # type: ignore[attr-defined]
    else:
        hid = await session.execute(
            dialect_insert(session, LeaderboardOptOut)
            .values(member_id=member_id, community_id=member.community_id, since=clock.now())
            .on_conflict_do_nothing(index_elements=["member_id"])
        )
        changed = hid.rowcount == 1  # type: ignore[attr-defined]
    if changed:
        await count_member(session, member.community_id, member_id, 1 if on else -1)
    return on


async def is_leaderboard_public(session: AsyncSession, member_id: int) -> bool:
    """Return whether the member shows on public boards."""
    hidden = await session.scalar(
        select(LeaderboardOptOut.member_id).where(LeaderboardOptOut.member_id == member_id)
    )
    return hidden is None
