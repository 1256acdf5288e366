"""The counters badge rules read, for many members at once, without summing the ledger.

``points``, ``rituals_attended`` and ``answers_accepted`` are the all-time score rows
(boards points, rituals, helpers); ``streak_weeks`` walks the member's weekly rituals rows
back from this week (or last week, if they have not checked in yet this week) in the
community's time zone; ``ugc_featured`` counts the member's ``ugc_featured`` ledger rows
(few, through the member's index).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Activity, MemberScore
from bot.services.engagement import ActivityKind
from bot.services.recognition.periods import ALL_TIME_START, Board, Period, period_start
from bot.services.recognition.scores import community_zone

# All-time counters read from a board's ``all`` row.
BOARD_COUNTERS: dict[str, Board] = {
    "points": Board.POINTS,
    "rituals_attended": Board.RITUALS,
    "answers_accepted": Board.HELPERS,
}

Counters = dict[int, dict[str, int]]


def streak_of(weeks: Collection[datetime], now: datetime, zone: str) -> int:
    """Return how many weeks in a row, ending this week or last, hold a check-in."""

    def before(start: datetime) -> datetime:
        # Three days back is inside the previous week whatever a DST change does to its length.
        return period_start(Period.WEEK, start - timedelta(days=3), zone)

    week = period_start(Period.WEEK, now, zone)
    if week not in weeks:
        week = before(week)
    streak = 0
    while week in weeks:
        streak += 1
        week = before(week)
    return streak


async def read_counters(
    session: AsyncSession,
    community_id: int,
    member_ids: Collection[int],
    needed: Collection[str],
    now: datetime,
) -> Counters:
    """Return ``needed`` counters for each member (a missing one is 0)."""
    found: Counters = {member_id: defaultdict(int) for member_id in member_ids}
    if not member_ids:
        return found
    ids = sorted(member_ids)
    boards = {BOARD_COUNTERS[c].value: c for c in needed if c in BOARD_COUNTERS}
    if boards:
        rows = await session.execute(
            select(MemberScore.member_id, MemberScore.board, MemberScore.score).where(
                MemberScore.community_id == community_id,
                MemberScore.board.in_(list(boards)),
                MemberScore.period == Period.ALL.value,
                MemberScore.period_start == ALL_TIME_START,
                MemberScore.member_id.in_(ids),
            )
        )
        for member_id, board, score in rows:
            found[member_id][boards[board]] = score
    if "ugc_featured" in needed:
        featured = await session.execute(
            select(Activity.member_id, func.count())
            .where(
                Activity.member_id.in_(ids),
                Activity.kind == ActivityKind.UGC_FEATURED.value,
            )
            .group_by(Activity.member_id)
        )
        for member_id, count in featured:
            found[member_id]["ugc_featured"] = count
    if "streak_weeks" in needed:
        weeks: dict[int, set[datetime]] = defaultdict(set)
        starts = await session.execute(
            select(MemberScore.member_id, MemberScore.period_start).where(
                MemberScore.member_id.in_(ids),
                MemberScore.community_id == community_id,
                MemberScore.board == Board.RITUALS.value,
                MemberScore.period == Period.WEEK.value,
                MemberScore.score > 0,
            )
        )
        for member_id, start in starts:
            weeks[member_id].add(start)
        zone = await community_zone(session, community_id)
        for member_id in ids:
            found[member_id]["streak_weeks"] = streak_of(weeks[member_id], now, zone)
    return found
