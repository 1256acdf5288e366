"""outbox due index: a dispatcher finds its platforms' due rows without reading others'

Revision ID: 0015_outbox_due_index
Revises: 0014_outbox_blocked
Create Date: 2026-12-06 12:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015_outbox_due_index"
down_revision: str | None = "0014_outbox_blocked"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_platform_status_not_before",
            ["platform", "status", "not_before"],
            unique=False,
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_platform_status_not_before")
