"""Digest snapshots: one row per digest, the lab's facts as JSON.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("facts", sa.Text, nullable=False),
    )
    op.create_index("ix_digest_snapshots_taken_at", "digest_snapshots", ["taken_at"])


def downgrade() -> None:
    op.drop_index("ix_digest_snapshots_taken_at", "digest_snapshots")
    op.drop_table("digest_snapshots")
