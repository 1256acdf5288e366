"""ritual due times, active since, status CHECK constraints

Rituals keep their next fire time and next reminder time (indexed), so the scheduler wakes
only the due ones, and an "active since" that a resume moves while ``created_at`` stays.
Existing rituals get ``active_since = created_at`` (the old code moved ``created_at`` on
resume, so that is the time they have been active since) and, unless paused,
``next_fire_at = next_remind_at = active_since``: the first tick sees each one as due and
does exactly what it did before (looks for missed fire times since then, bounded by its
lookback) and then stores the real next times. No schedule code runs here.

The status columns get CHECK constraints (SQLite through batch mode, which rebuilds the
tables).

Revision ID: 0003_ritual_due_times
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.migrate import refuse_cascading_rebuild

revision: str = "0003_ritual_due_times"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = (
    ("ritual_occurrences", "status", ("posted", "late", "missed")),
    ("ritual_checkins", "method", ("button", "reaction", "reply", "command")),
    ("outbox", "status", ("pending", "claimed", "sending", "sent", "dead")),
)


def upgrade() -> None:
    """Apply this revision."""
    refuse_cascading_rebuild(op.get_bind(), "rituals")
    with op.batch_alter_table("rituals") as batch:
        batch.add_column(sa.Column("active_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_remind_at", sa.DateTime(timezone=True), nullable=True))
    rituals = sa.table(
        "rituals",
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("active_since", sa.DateTime(timezone=True)),
        sa.column("next_fire_at", sa.DateTime(timezone=True)),
        sa.column("next_remind_at", sa.DateTime(timezone=True)),
        sa.column("paused", sa.Boolean()),
    )
    op.execute(rituals.update().values(active_since=rituals.c.created_at))
    op.execute(
        rituals.update()
        .where(rituals.c.paused == sa.false())
        .values(next_fire_at=rituals.c.active_since, next_remind_at=rituals.c.active_since)
    )
    with op.batch_alter_table("rituals") as batch:
        batch.alter_column("active_since", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index(batch.f("ix_rituals_next_fire_at"), ["next_fire_at"], unique=False)
        batch.create_index(batch.f("ix_rituals_next_remind_at"), ["next_remind_at"], unique=False)
    for table, column, values in CHECKS:
        allowed = ", ".join(f"'{value}'" for value in values)
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(
                batch.f(f"ck_{table}_{column}"), sa.text(f"{column} IN ({allowed})")
            )


def downgrade() -> None:
    """Revert this revision."""
    for table, column, _ in reversed(CHECKS):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(batch.f(f"ck_{table}_{column}"), type_="check")
    with op.batch_alter_table("rituals") as batch:
        batch.drop_index(batch.f("ix_rituals_next_remind_at"))
        batch.drop_index(batch.f("ix_rituals_next_fire_at"))
        batch.drop_column("next_remind_at")
        batch.drop_column("next_fire_at")
        batch.drop_column("active_since")
