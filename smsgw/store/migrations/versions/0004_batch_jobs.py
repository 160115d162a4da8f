"""Issue 5: batch jobs: pause/resume/cancel, scheduled start, rejected rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

The batch's lifecycle times and final counts on ``batches``; rows refused at upload in
``batch_rejects``; the messages index on (batch_id, status) gains ``id`` so a batch's held or
queued messages are paged in id order by an index range scan (start, pause, cancel, export).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COUNTS = ("submitted", "delivered", "failed", "cancelled")


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("started_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("done_at", sa.Float(), nullable=True))
        for name in _COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    op.create_index("ix_batches_key_id_id", "batches", ["key_id", "id"])
    op.create_index("ix_batches_state", "batches", ["state"])
    op.drop_index("ix_messages_batch_id_status", table_name="messages")
    op.create_index("ix_messages_batch_id_status_id", "messages", ["batch_id", "status", "id"])
    op.create_table(
        "batch_rejects",
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("message", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "line", name="pk_batch_rejects"),
    )


def downgrade() -> None:
    op.drop_table("batch_rejects")
    op.drop_index("ix_messages_batch_id_status_id", table_name="messages")
    op.create_index("ix_messages_batch_id_status", "messages", ["batch_id", "status"])
    op.drop_index("ix_batches_state", table_name="batches")
    op.drop_index("ix_batches_key_id_id", table_name="batches")
    with op.batch_alter_table("batches") as batch:
        for name in ("done_at", "started_at", *_COUNTS):
            batch.drop_column(name)
