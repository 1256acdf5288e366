"""Per-period score rows: added to in the ledger's transaction, rebuilt from the ledger.

Two writers feed them, and never the same ledger row: the chat ingest (:mod:`.ingest`,
which writes its ledger rows itself and publishes no event per message) and the
``activity.recorded`` subscriber below, for everything that goes through
:func:`bot.services.engagement.record_activity` (ritual check-ins, UGC, answers, imports).
The bus hands each event to a subscriber once, recording the delivery in the subscriber's
transaction, so an activity is added once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.events import ActivityRecorded
from bot.models import Activity, Community, MemberScore
from bot.services.engagement import ActivityKind
from bot.services.recognition.periods import Board, period_starts

SCORES = cast(Table, MemberScore.__table__)
# (member id, board, period, period start) -> points to add
ScoreKey = tuple[int, str, str, datetime]


def boards_of(kind: str, points: int) -> Iterable[tuple[Board, int]]:
    """Return what one ledger row adds to each board."""
    if points:
        yield Board.POINTS, points
    if kind == ActivityKind.RITUAL_CHECKIN:
        yield Board.RITUALS, 1
    elif kind == ActivityKind.ANSWER_ACCEPTED:
        yield Board.HELPERS, 1


def add_to(
    totals: dict[ScoreKey, int], member_id: int, kind: str, points: int, at: datetime, zone: str
) -> None:
    """Add one ledger row to ``totals`` on every board and period it counts for."""
    for board, amount in boards_of(kind, points):
        for period, start in period_starts(at, zone):
            totals[member_id, board.value, period.value, start] += amount


async def apply_scores(
    session: AsyncSession, clock: Clock, community_id: int, totals: Mapping[ScoreKey, int]
) -> None:
    """Add ``totals`` to the score rows, creating the ones that do not exist yet (one statement)."""
    if not totals:
        return
    now = clock.now()
    insert = dialect_insert(session, SCORES)
    upsert = insert.on_conflict_do_update(
        index_elements=["community_id", "board", "period", "period_start", "member_id"],
        set_={"score": SCORES.c.score + insert.excluded.score, "updated_at": now},
    )
    await session.execute(
        upsert,
        [
            {
                "community_id": community_id,
                "board": board,
                "period": period,
                "period_start": start,
                "member_id": member_id,
                "score": amount,
                "updated_at": now,
            }
            for (member_id, board, period, start), amount in totals.items()
            if amount
        ],
    )


async def community_zone(session: AsyncSession, community_id: int) -> str:
    """Return the community's time zone (its periods' clock)."""
    zone = await session.scalar(select(Community.timezone).where(Community.id == community_id))
    return zone or "UTC"


async def on_activity_recorded(
    session: AsyncSession, clock: Clock, event: ActivityRecorded
) -> None:
    """Add an activity recorded through the ledger service to the member's period rows."""
    row = (
        await session.execute(
            select(Activity.member_id, Activity.kind, Activity.points, Activity.occurred_at).where(
                Activity.id == event.activity_id
            )
        )
    ).one_or_none()
    if row is None:  # pragma: no cover - the ledger is append-only
        return
    totals: dict[ScoreKey, int] = defaultdict(int)
    zone = await community_zone(session, event.community_id)
    add_to(totals, row.member_id, row.kind, row.points, row.occurred_at, zone)
    await apply_scores(session, clock, event.community_id, totals)


async def ledger_scores(
    session: AsyncSession, community_id: int, member_ids: Iterable[int] | None = None
) -> dict[ScoreKey, int]:
    """Return the score rows as the ledger sums them (for one set of members, or everyone)."""
    zone = await community_zone(session, community_id)
    query: Any = select(
        Activity.member_id, Activity.kind, Activity.points, Activity.occurred_at
    ).where(Activity.community_id == community_id)
    if member_ids is not None:
        query = query.where(Activity.member_id.in_(list(member_ids)))
    totals: dict[ScoreKey, int] = defaultdict(int)
    for row in await session.execute(query):
        add_to(totals, row.member_id, row.kind, row.points, row.occurred_at, zone)
    return {key: amount for key, amount in totals.items() if amount}


async def rebuild_member_scores(
    session: AsyncSession, clock: Clock, community_id: int, member_id: int
) -> None:
    """Recompute one member's score rows from their ledger rows (after linking accounts)."""
    await session.execute(delete(MemberScore).where(MemberScore.member_id == member_id))
    await apply_scores(
        session, clock, community_id, await ledger_scores(session, community_id, [member_id])
    )
