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
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import aiosqlite
from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.db.driver import select_in, sqlite_driver, sqlite_time, values_returning
from bot.events import ActivityRecorded
from bot.models import (
    Activity,
    BoardScoreCount,
    Community,
    LeaderboardOptOut,
    Member,
    MemberScore,
)
from bot.services.engagement import ActivityKind
from bot.services.recognition.periods import Board, period_starts

SCORES = cast(Table, MemberScore.__table__)
COUNTS = cast(Table, BoardScoreCount.__table__)
# (board, period, period start, score) -> members to add
CountKey = tuple[str, str, datetime, int]
# (member id, board, period, period start) -> points to add
ScoreKey = tuple[int, str, str, datetime]


# On SQLite the batch statements go straight to the driver (see bot.db.driver).
# One board, period and start at a time: each row binds only (member id, points to add).
_SCORES_SQLITE = (
    "INSERT INTO member_scores (community_id, board, period, period_start, member_id, score, "
    "updated_at) SELECT ?1, ?2, ?3, ?4, column1, column2, ?5 FROM (",
    ") WHERE true ON CONFLICT (community_id, board, period, period_start, member_id) "
    "DO UPDATE SET score = member_scores.score + excluded.score, "
    "updated_at = excluded.updated_at RETURNING member_id, score",
)
_COUNTS_SQLITE = (
    "INSERT INTO board_score_counts (community_id, board, period, period_start, score, members) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (community_id, board, period, period_start, score) "
    "DO UPDATE SET members = board_score_counts.members + excluded.members"
)
_HIDDEN_SQLITE = "SELECT member_id FROM leaderboard_optouts WHERE member_id IN"


def boards_of(kind: str, points: int) -> Iterable[tuple[Board, int]]:
    """Return what one ledger row adds to each board."""
    if points:
        yield Board.POINTS, points
    if kind == ActivityKind.RITUAL_CHECKIN:
        yield Board.RITUALS, 1
    elif kind == ActivityKind.ANSWER_ACCEPTED:
        # A negative row takes an answer back (a moderator moved the mark to another reply).
        yield Board.HELPERS, 1 if points >= 0 else -1


def add_to(
    totals: dict[ScoreKey, int], member_id: int, kind: str, points: int, at: datetime, zone: str
) -> None:
    """Add one ledger row to ``totals`` on every board and period it counts for."""
    add_many(totals, [(member_id, kind, points, at)], zone)


def add_many(
    totals: dict[ScoreKey, int], rows: Iterable[tuple[int, str, int, datetime]], zone: str
) -> None:
    """Add ledger rows (member id, kind, points, when) to ``totals`` (see :func:`add_to`).

    The periods are worked out once per local date (a batch of chat is a few dates at
    most), and alike rows of one member on one date are counted first and added once: a
    chat batch adds a few thousand rows to three periods each.
    """
    local = ZoneInfo(zone)
    alike: dict[tuple[int, str, int, date], int] = defaultdict(int)
    moment: dict[date, datetime] = {}  # a moment of each local date, for its periods
    for member_id, kind, points, at in rows:
        day = at.astimezone(local).date()
        alike[member_id, kind, points, day] += 1
        moment.setdefault(day, at)
    spans_of = {
        day: tuple((p.value, s) for p, s in period_starts(at, zone)) for day, at in moment.items()
    }
    for (member_id, kind, points, day), count in alike.items():
        spans = spans_of[day]
        for board, amount in boards_of(kind, points):
            for period, start in spans:
                totals[member_id, board.value, period, start] += amount * count


async def apply_scores(
    session: AsyncSession,
    clock: Clock,
    community_id: int,
    totals: Mapping[ScoreKey, int],
    hidden: Collection[int] = (),
) -> None:
    """Add ``totals`` to the score rows (one statement) and move public members' counts.

    ``hidden`` holds the members among them who opted out of public boards: their rows
    change, the per-score counts that public ranks read do not.
    """
    driver = await sqlite_driver(session)
    if driver is not None:
        await _apply_scores_sqlite(driver, clock.now(), community_id, totals, hidden)
        return
    # In the unique index's order: every writer takes the rows' locks in that one order (no
    # deadlock between processes), and the upsert walks the index forwards.
    rows = sorted(((key, amount) for key, amount in totals.items() if amount), key=_index_order)
    if not rows:
        return
    now = clock.now()
    insert = dialect_insert(session, SCORES)
    upsert = insert.on_conflict_do_update(
        index_elements=["community_id", "board", "period", "period_start", "member_id"],
        set_={"score": SCORES.c.score + insert.excluded.score, "updated_at": now},
    ).returning(
        SCORES.c.member_id,
        SCORES.c.board,
        SCORES.c.period,
        SCORES.c.period_start,
        SCORES.c.score,
    )
    result = await session.execute(
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
            for (member_id, board, period, start), amount in rows
        ],
    )
    moves: dict[CountKey, int] = defaultdict(int)
    for member_id, board, period, start, score in result:
        if member_id in hidden:
            continue
        amount = totals[member_id, board, period, start]
        _move(moves, (board, period, start), score - amount, score)
    await apply_counts(session, community_id, moves)


async def _apply_scores_sqlite(
    driver: aiosqlite.Connection,
    now: datetime,
    community_id: int,
    totals: Mapping[ScoreKey, int],
    hidden: Collection[int],
) -> None:
    """:func:`apply_scores` straight to SQLite's driver (see bot.db.driver).

    The same upsert and count moves with plain values, one board, period and start at a
    time, members in order (the unique index's), each row returning only its member and new
    score: a chat batch upserts tens of thousands of rows. Moving the counts in SQL instead
    (the additions in a temporary table, old scores joined) took twice the database time.
    """
    groups: dict[tuple[str, str, datetime], dict[int, int]] = defaultdict(dict)
    for (member_id, board, period, start), amount in totals.items():
        if amount:
            groups[board, period, start][member_id] = amount
    stamp = sqlite_time(now)
    head, tail = _SCORES_SQLITE
    counts: list[tuple[int, str, str, str, int, int]] = []
    for (board, period, start), amounts in sorted(groups.items()):
        text = sqlite_time(start)
        returned = await values_returning(
            driver, head, sorted(amounts.items()), tail, (community_id, board, period, text, stamp)
        )
        moves: dict[int, int] = defaultdict(int)
        for member_id, score in returned:
            if member_id in hidden:
                continue
            old = score - amounts[member_id]
            if old > 0:
                moves[old] -= 1
            if score > 0:
                moves[score] += 1
        counts.extend(
            (community_id, board, period, text, score, delta)
            for score, delta in sorted(moves.items())
            if delta
        )
    if counts:
        await driver.executemany(_COUNTS_SQLITE, counts)


def _index_order(row: tuple[ScoreKey, int]) -> tuple[str, str, datetime, int]:
    (member_id, board, period, start), _ = row
    return board, period, start, member_id


def _move(moves: dict[CountKey, int], board: tuple[str, str, datetime], old: int, new: int) -> None:
    if old > 0:
        moves[(*board, old)] -= 1
    if new > 0:
        moves[(*board, new)] += 1


async def apply_counts(
    session: AsyncSession, community_id: int, moves: Mapping[CountKey, int]
) -> None:
    """Add ``moves`` to the per-score member counts (in key order: no lock-order deadlocks)."""
    rows = [(key, delta) for key, delta in sorted(moves.items()) if delta]
    if not rows:
        return
    driver = await sqlite_driver(session)
    if driver is not None:
        await driver.executemany(
            _COUNTS_SQLITE,
            [
                (community_id, board, period, sqlite_time(start), score, delta)
                for (board, period, start, score), delta in rows
            ],
        )
        return
    insert = dialect_insert(session, COUNTS)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["community_id", "board", "period", "period_start", "score"],
            set_={"members": COUNTS.c.members + insert.excluded.members},
        ),
        [
            {
                "community_id": community_id,
                "board": board,
                "period": period,
                "period_start": start,
                "score": score,
                "members": delta,
            }
            for (board, period, start, score), delta in rows
        ],
    )


async def hidden_among(session: AsyncSession, member_ids: Collection[int]) -> set[int]:
    """Return which of these members opted out of public boards."""
    if not member_ids:
        return set()
    driver = await sqlite_driver(session)
    if driver is not None:
        return {row[0] for row in await select_in(driver, _HIDDEN_SQLITE, (), member_ids)}
    found = await session.scalars(
        select(LeaderboardOptOut.member_id).where(LeaderboardOptOut.member_id.in_(member_ids))
    )
    return set(found)


async def count_member(session: AsyncSession, community_id: int, member_id: int, sign: int) -> None:
    """Add (+1) or take (-1) the member's positive score rows to or from the public counts."""
    moves: dict[CountKey, int] = defaultdict(int)
    rows = await session.execute(
        select(
            MemberScore.board, MemberScore.period, MemberScore.period_start, MemberScore.score
        ).where(MemberScore.member_id == member_id, MemberScore.score > 0)
    )
    for row in rows:
        moves[row.board, row.period, row.period_start, row.score] += sign
    await apply_counts(session, community_id, moves)


async def remove_member_scores(session: AsyncSession, community_id: int, member_id: int) -> None:
    """Delete the member's score rows, taking them out of the public counts first."""
    if not await hidden_among(session, [member_id]):
        await count_member(session, community_id, member_id, -1)
    await session.execute(delete(MemberScore).where(MemberScore.member_id == member_id))


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
    # Lock the member row first, as set_leaderboard_public does: hidden or not is then settled.
    erased_at = await session.scalar(
        select(Member.erased_at).where(Member.id == row.member_id).with_for_update()
    )
    if erased_at is not None:
        return  # erased after it was recorded: erasure took them off every board for good
    totals: dict[ScoreKey, int] = defaultdict(int)
    zone = await community_zone(session, event.community_id)
    add_to(totals, row.member_id, row.kind, row.points, row.occurred_at, zone)
    hidden = await hidden_among(session, [row.member_id])
    await apply_scores(session, clock, event.community_id, totals, hidden)


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
    add_many(totals, await session.execute(query), zone)
    return {key: amount for key, amount in totals.items() if amount}


async def rebuild_member_scores(
    session: AsyncSession, clock: Clock, community_id: int, member_id: int
) -> None:
    """Recompute one member's score rows from their ledger rows (after linking accounts)."""
    await remove_member_scores(session, community_id, member_id)
    totals = await ledger_scores(session, community_id, [member_id])
    hidden = await hidden_among(session, [member_id])
    await apply_scores(session, clock, community_id, totals, hidden)
