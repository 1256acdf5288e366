"""name keys: rituals are unique by a Unicode-aware key of their name, not the name as typed

Revision ID: 0005_name_keys
Revises: 0004_feature_kit
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.migrate import refuse_cascading_rebuild
from bot.inputs import name_key

revision: str = "0005_name_keys"
down_revision: str | None = "0004_feature_kit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    refuse_cascading_rebuild(op.get_bind(), "rituals")
    with op.batch_alter_table("rituals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=200), nullable=True))
    _backfill_keys()
    with op.batch_alter_table("rituals", schema=None) as batch_op:
        batch_op.alter_column("name_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_constraint(batch_op.f("uq_rituals_community_id_name"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_rituals_community_id_name_key"), ["community_id", "name_key"]
        )


def _backfill_keys() -> None:
    """Key every ritual's name; of two that now share a key, the later gets a number.

    Before this revision "Ödön" and "ödön" could both exist (SQLite's lower() knows only
    ASCII); the second becomes "ödön (2)", so both stay reachable by name.
    """
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, community_id, name FROM rituals ORDER BY id")).all()
    taken: set[tuple[int, str]] = set()
    for ritual_id, community_id, name in rows:
        new_name, key, n = name, name_key(name), 1
        while (community_id, key) in taken:
            n += 1
            suffix = f" ({n})"
            new_name = name[: 80 - len(suffix)] + suffix
            key = name_key(new_name)
        taken.add((community_id, key))
        bind.execute(
            sa.text("UPDATE rituals SET name = :name, name_key = :key WHERE id = :id"),
            {"name": new_name, "key": key, "id": ritual_id},
        )


def downgrade() -> None:
    """Revert this revision (names stay as renamed; they are distinct as typed too)."""
    refuse_cascading_rebuild(op.get_bind(), "rituals")
    with op.batch_alter_table("rituals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_rituals_community_id_name_key"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_rituals_community_id_name"), ["community_id", "name"]
        )
        batch_op.drop_column("name_key")
