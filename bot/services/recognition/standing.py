"""What /rank, /leaderboard and the Home tab show: a member's standing and a board's pages.

Built on :mod:`.boards` (``top``, ``rank_of``), never on the ledger. Privacy holds here, once
for every front end: a member who opted out of public boards is left off every page, and
someone else asking for their rank learns only that it is private; they themselves still see
their own rank (marked as seen by them alone).

A period is named as members type it: ``all``, ``week``, ``month``, or ``last-week`` /
``last-month`` for the period before (its score rows are kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import UTCDateTime
from bot.errors import Invalid
from bot.models import BoardScoreCount, Identity, Member
from bot.services.callers import Actor
from bot.services.recognition.badges import top_badges
from bot.services.recognition.boards import BoardEntry, is_leaderboard_public, rank_of, top
from bot.services.recognition.periods import (
    ALL_TIME_START,
    Board,
    Period,
    board_of,
    period_start,
)
from bot.services.recognition.scores import community_zone

PAGE_SIZE = 10
PREVIOUS = "last-"
PERIOD_WORDS = ("all", "week", "month", "last-week", "last-month")
BOARD_WORDS = tuple(board.value for board in Board)
UNNAMED = "A member"


@dataclass(frozen=True)
class BoardChoice:
    """Which board and which period someone asked for."""

    board: Board
    period: Period
    previous: bool = False

    @property
    def period_word(self) -> str:
        """Return the period as members type it (``week``, ``last-month``…)."""
        return f"{PREVIOUS}{self.period.value}" if self.previous else self.period.value

    @property
    def period_label(self) -> str:
        """Return the period as a sentence says it ("this week", "all time"…)."""
        if self.period is Period.ALL:
            return "all time"
        return f"{'last' if self.previous else 'this'} {self.period.value}"

    @property
    def unit(self) -> str:
        """Return what the board counts, in the plural."""
        return {
            Board.POINTS: "points",
            Board.RITUALS: "check-ins",
            Board.HELPERS: "accepted answers",
        }[self.board]


def board_choice(board: str | None = None, period: str | None = None) -> BoardChoice:
    """Return the board and period named by a member (defaults: points, all time), or refuse."""
    chosen = board_of((board or Board.POINTS.value).strip().lower())
    word = (period or Period.ALL.value).strip().lower()
    if word not in PERIOD_WORDS:
        names = ", ".join(PERIOD_WORDS)
        raise Invalid(f"There is no period {word[:60]!r}; try {names}.", field="period")
    previous = word.startswith(PREVIOUS)
    return BoardChoice(chosen, Period(word.removeprefix(PREVIOUS)), previous)


@dataclass(frozen=True)
class BadgeMark:
    """A badge as a card shows it."""

    emoji: str
    name: str


@dataclass(frozen=True)
class RankCard:
    """One member's standing on a board, as the asker may see it.

    ``private``: the member hides from public boards and someone else asked; nothing but
    their name is filled in. ``hidden``: the member hides and asked themselves (only they
    see this). ``rank`` is None while they have no score on the board (unranked).
    """

    member_id: int | None
    name: str
    choice: BoardChoice
    period_start: datetime
    score: int
    rank: int | None
    ranked: int
    badges: tuple[BadgeMark, ...]
    own: bool
    hidden: bool = False
    private: bool = False


@dataclass(frozen=True)
class LeaderboardPage:
    """One page of a board's public members, highest score first."""

    choice: BoardChoice
    period_start: datetime
    page: int
    pages: int
    ranked: int
    entries: tuple[BoardEntry, ...]


_RANKED = select(func.coalesce(func.sum(BoardScoreCount.members), 0)).where(
    and_(
        BoardScoreCount.community_id == bindparam("community"),
        BoardScoreCount.board == bindparam("board"),
        BoardScoreCount.period == bindparam("period"),
        BoardScoreCount.period_start == bindparam("start", type_=UTCDateTime()),
        BoardScoreCount.score > 0,
    )
)


async def _period(
    session: AsyncSession, clock: Clock, community_id: int, choice: BoardChoice
) -> tuple[datetime, datetime]:
    """Return a moment inside the period asked for (now, or just before this period began)
    and the period's start."""
    now = clock.now()
    if choice.period is Period.ALL:
        return now, ALL_TIME_START
    zone = await community_zone(session, community_id)
    start = period_start(choice.period, now, zone)
    if not choice.previous:
        return now, start
    before = start - timedelta(microseconds=1)
    return before, period_start(choice.period, before, zone)


async def ranked_count(
    session: AsyncSession, community_id: int, choice: BoardChoice, start: datetime
) -> int:
    """Return how many public members have a score on the board in the period from ``start``."""
    found = await session.scalar(
        _RANKED,
        {
            "community": community_id,
            "board": choice.board.value,
            "period": choice.period.value,
            "start": start,
        },
    )
    return int(found or 0)


async def leaderboard_page(
    session: AsyncSession, clock: Clock, community_id: int, choice: BoardChoice, page: int = 1
) -> LeaderboardPage:
    """Return a page of the board (a page past the end is the last one)."""
    at, start = await _period(session, clock, community_id, choice)
    ranked = await ranked_count(session, community_id, choice, start)
    pages = max(1, -(-ranked // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = await top(
        session,
        community_id,
        choice.board,
        choice.period,
        at,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    return LeaderboardPage(choice, shown.period_start, page, pages, ranked, shown.entries)


async def card_badges(session: AsyncSession, member_id: int) -> tuple[BadgeMark, ...]:
    """Return the badges a card shows for the member: their three most recent."""
    held = await top_badges(session, member_id, limit=3)
    return tuple(BadgeMark(view.emoji, view.name) for view in held)


async def _member(
    session: AsyncSession, actor: Actor, user_id: str
) -> tuple[int, str | None] | None:
    """Return the member behind a user of the actor's own space, without creating one."""
    row = (
        await session.execute(
            select(Member.id, Member.display_name)
            .join(Identity, Identity.member_id == Member.id)
            .where(
                Identity.platform == actor.space.platform,
                Identity.space_id == actor.space.space_id,
                Identity.user_id == user_id,
                Member.erased_at.is_(None),
            )
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def rank_card(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    choice: BoardChoice,
    *,
    user_id: str | None = None,
    name: str | None = None,
) -> RankCard:
    """Return the standing of the actor, or of the user ``user_id`` of their space.

    ``name`` is what the platform calls that user, used when Flywheel has no name for them.
    """
    community_id = actor.community_id
    at, start = await _period(session, clock, community_id, choice)
    if user_id is None or user_id == actor.caller.user_id:
        member: tuple[int, str | None] | None = (actor.member_id, actor.caller.display_name)
        own = True
    else:
        member = await _member(session, actor, user_id)
        own = member is not None and member[0] == actor.member_id
    if member is None:
        # Never seen here: nobody to rank yet. Nothing is created for a lookup.
        ranked = await ranked_count(session, community_id, choice, start)
        return RankCard(None, name or UNNAMED, choice, start, 0, None, ranked, (), own=False)
    member_id, known_name = member
    shown_name = known_name or name or UNNAMED
    public = await is_leaderboard_public(session, member_id)
    standing = await rank_of(session, community_id, choice.board, choice.period, at, member_id)
    if not public and not own:
        return RankCard(
            member_id, shown_name, choice, standing.period_start, 0, None, 0, (), own, private=True
        )
    ranked = await ranked_count(session, community_id, choice, standing.period_start)
    return RankCard(
        member_id,
        shown_name,
        choice,
        standing.period_start,
        standing.score,
        standing.rank if standing.score > 0 else None,
        ranked,
        await card_badges(session, member_id),
        own,
        hidden=not public,
    )


@dataclass(frozen=True)
class HomeSummary:
    """Recognition's part of a member's own summary (the Slack Home tab)."""

    all_time: RankCard
    week: RankCard

    @property
    def points(self) -> int:
        """Return the member's all-time points."""
        return self.all_time.score

    @property
    def badges(self) -> tuple[BadgeMark, ...]:
        """Return the badges shown first."""
        return self.all_time.badges


async def home_summary(session: AsyncSession, clock: Clock, actor: Actor) -> HomeSummary:
    """Return the actor's all-time points and rank, their rank this week and their top badges."""
    all_time = await rank_card(session, clock, actor, BoardChoice(Board.POINTS, Period.ALL))
    week = await rank_card(session, clock, actor, BoardChoice(Board.POINTS, Period.WEEK))
    return HomeSummary(all_time, week)


def rank_words(card: RankCard) -> str:
    """Return the rank as a card and a text answer say it ("#3 of 120", "unranked")."""
    if card.private:
        return "private"
    if card.rank is None:
        return "unranked"
    return f"#{card.rank} of {max(card.ranked, card.rank)}"


def board_title(choice: BoardChoice) -> str:
    """Return a board's title ("Points · this week")."""
    return f"{choice.board.value.title()} · {choice.period_label}"
