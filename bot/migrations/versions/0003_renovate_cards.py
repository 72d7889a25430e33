"""Renovate cards; jobs.root_ts for jobs that run in another message's thread.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("root_ts", sa.String(32), nullable=False, server_default=""))
    op.create_table(
        "renovate_cards",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("pr_number", sa.Integer, nullable=False, unique=True),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("head_sha", sa.String(64), nullable=False),
        sa.Column("ci_verdict", sa.String(32), nullable=False),
        sa.Column("mergeable_state", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("skipped_sha", sa.String(64), nullable=False),
        sa.Column("skipped_by", sa.String(32), nullable=False),
        sa.Column("job_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_renovate_cards_state", "renovate_cards", ["state"])


def downgrade() -> None:
    op.drop_index("ix_renovate_cards_state", "renovate_cards")
    op.drop_table("renovate_cards")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("root_ts")
