"""Durable intake (every acked command and click, and the job each one started) and job owners
(the replica running a job, and when it last said it still does).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_intake_state", "intake", ["state"])
    op.create_index("ix_intake_received_at", "intake", ["received_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("intake_key", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("owner", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_jobs_intake_key", "jobs", ["intake_key"])


def downgrade() -> None:
    op.drop_index("ix_jobs_intake_key", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
        batch.drop_column("intake_key")
    op.drop_index("ix_intake_received_at", "intake")
    op.drop_index("ix_intake_state", "intake")
    op.drop_table("intake")
