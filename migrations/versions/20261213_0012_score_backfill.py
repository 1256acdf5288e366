"""score backfill: ledger rows recorded before recognition get their per-period score rows

Revision ID: 0012_score_backfill
Revises: 0009_badges
Create Date: 2026-12-06 06:20:00

Recognition's subscriber adds each ``activity.recorded`` event to the score rows, but the bus
delivers only events not yet finished when the subscriber appeared: activity recorded before
0007 (check-ins, UGC points, imports) had no score rows, so boards left it out. This revision
finds the members with such a ledger row (a non-chat row whose event finished without a
delivery to ``recognition.period-scores``, or that has no event) and sets their score rows to
what their ledger implies, leaving out only the rows whose event is still pending (the
subscriber adds those when it runs), and members who were erased (off every board for good). Setting rather than adding makes the revision safe to run
again. The per-score counts public ranks read are then recomputed from the score rows. The
periods are cut by the function the application uses
(:func:`bot.services.recognition.scores.add_to`), in each community's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from bot.services.recognition.scores import ScoreKey, add_to

revision: str = "0012_score_backfill"
down_revision: str | None = "0009_badges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBSCRIBER = "recognition.period-scores"
CHUNK = 5_000


def _aware(value: datetime | str) -> datetime:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _stored(bind: sa.Connection, value: datetime) -> datetime:
    # The application keeps naive UTC on SQLite (UTCDateTime) and aware UTC elsewhere.
    return value.replace(tzinfo=None) if bind.dialect.name == "sqlite" else value


def _event_states(bind: sa.Connection, meta: sa.MetaData) -> tuple[set[int], set[int]]:
    """Return the activity ids still waiting for the subscriber, and those it has seen."""
    events = sa.Table("events", meta, autoload_with=bind)
    deliveries = sa.Table("event_deliveries", meta, autoload_with=bind)
    delivered = sa.exists().where(
        deliveries.c.event_id == events.c.id, deliveries.c.subscriber == SUBSCRIBER
    )
    rows = bind.execute(
        sa.select(events.c.payload, events.c.done_at.is_(None), delivered).where(
            events.c.name == "activity.recorded"
        )
    )
    pending: set[int] = set()
    seen: set[int] = set()
    for payload, waiting, handled in rows:
        activity_id = (payload or {}).get("activity_id")
        if not isinstance(activity_id, int):
            continue
        if handled:
            seen.add(activity_id)
        elif waiting:
            pending.add(activity_id)
    return pending, seen


def upgrade() -> None:
    """Set the score rows of members with uncounted ledger rows; recount the public counts."""
    bind = op.get_bind()
    meta = sa.MetaData()
    communities = sa.Table("communities", meta, autoload_with=bind)
    members_table = sa.Table("members", meta, autoload_with=bind)
    activities = sa.Table("activities", meta, autoload_with=bind)
    scores = sa.Table("member_scores", meta, autoload_with=bind)
    counts = sa.Table("board_score_counts", meta, autoload_with=bind)
    optouts = sa.Table("leaderboard_optouts", meta, autoload_with=bind)
    pending, seen = _event_states(bind, meta)
    ledger = sa.select(
        activities.c.id,
        activities.c.community_id,
        activities.c.member_id,
        activities.c.kind,
        activities.c.points,
        activities.c.occurred_at,
    )
    # Erasure took a member off every board (their ledger rows stay, anonymous): never
    # give an erased member score rows back.
    erased = set(
        bind.scalars(sa.select(members_table.c.id).where(members_table.c.erased_at.is_not(None)))
    )
    missed = {
        (row.community_id, row.member_id)
        for row in bind.execute(ledger.where(activities.c.kind != "message"))
        if row.id not in seen and row.id not in pending and row.member_id not in erased
    }
    if not missed:
        return
    zones = {row.id: row.timezone or "UTC" for row in bind.execute(sa.select(communities))}
    members = sorted({member_id for _, member_id in missed})
    totals: dict[int, dict[ScoreKey, int]] = defaultdict(lambda: defaultdict(int))
    for start in range(0, len(members), CHUNK):
        chunk = members[start : start + CHUNK]
        for row in bind.execute(ledger.where(activities.c.member_id.in_(chunk))):
            if row.id in pending:
                continue
            zone = zones.get(row.community_id, "UTC")
            when = _aware(row.occurred_at)
            add_to(totals[row.community_id], row.member_id, row.kind, row.points, when, zone)
        bind.execute(sa.delete(scores).where(scores.c.member_id.in_(chunk)))
    extra = {"updated_at": _stored(bind, datetime.now(UTC))} if "updated_at" in scores.c else {}
    batch: list[dict[str, Any]] = []
    for community_id, keyed in sorted(totals.items()):
        for (member_id, board, period, start_at), amount in sorted(keyed.items()):
            if amount:
                batch.append(
                    {
                        "community_id": community_id,
                        "board": board,
                        "period": period,
                        "period_start": _stored(bind, start_at),
                        "member_id": member_id,
                        "score": amount,
                        **extra,
                    }
                )
    for start in range(0, len(batch), CHUNK):
        bind.execute(sa.insert(scores), batch[start : start + CHUNK])
    # Public ranks read these counts: recount them from the score rows (opted-out excluded).
    touched = sorted({community_id for community_id, _ in missed})
    bind.execute(sa.delete(counts).where(counts.c.community_id.in_(touched)))
    bind.execute(
        sa.insert(counts).from_select(
            ["community_id", "board", "period", "period_start", "score", "members"],
            sa.select(
                scores.c.community_id,
                scores.c.board,
                scores.c.period,
                scores.c.period_start,
                scores.c.score,
                sa.func.count(),
            )
            .where(
                scores.c.community_id.in_(touched),
                scores.c.score > 0,
                scores.c.member_id.not_in(sa.select(optouts.c.member_id)),
            )
            .group_by(
                scores.c.community_id,
                scores.c.board,
                scores.c.period,
                scores.c.period_start,
                scores.c.score,
            ),
        )
    )


def downgrade() -> None:
    """Nothing to undo: the rows set are the ones the ledger implies (upgrading again sets
    the same)."""
