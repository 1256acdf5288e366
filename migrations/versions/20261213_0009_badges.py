"""badges: the badges a community awards and the awards members hold

Revision ID: 0009_badges
Revises: 0008_answers
Create Date: 2026-12-06 05:52:47.505774
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_badges"
down_revision: str | None = "0008_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "badges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=24), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("emoji", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("rule_counter", sa.String(length=32), nullable=True),
        sa.Column("rule_threshold", sa.Integer(), nullable=True),
        sa.Column("access", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_badges_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["members.id"],
            name=op.f("fk_badges_created_by_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges")),
        sa.UniqueConstraint(
            "community_id", "name_key", name=op.f("uq_badges_community_id_name_key")
        ),
        sa.UniqueConstraint("community_id", "slug", name=op.f("uq_badges_community_id_slug")),
        sa.UniqueConstraint("uid", name=op.f("uq_badges_uid")),
    )
    op.create_table(
        "member_badges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=24), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("badge_id", sa.Integer(), nullable=False),
        sa.Column("awarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("awarded_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["awarded_by"],
            ["members.id"],
            name=op.f("fk_member_badges_awarded_by_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["badge_id"],
            ["badges.id"],
            name=op.f("fk_member_badges_badge_id_badges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_member_badges_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_badges_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_badges")),
        sa.UniqueConstraint(
            "member_id", "badge_id", name=op.f("uq_member_badges_member_id_badge_id")
        ),
        sa.UniqueConstraint("uid", name=op.f("uq_member_badges_uid")),
    )
    with op.batch_alter_table("member_badges", schema=None) as batch_op:
        batch_op.create_index("ix_member_badges_badge", ["badge_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("member_badges", schema=None) as batch_op:
        batch_op.drop_index("ix_member_badges_badge")

    op.drop_table("member_badges")
    op.drop_table("badges")
