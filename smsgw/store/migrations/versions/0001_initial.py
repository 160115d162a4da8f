"""The initial schema: every table and index of smsgw.store.schema as of smsgw 0.1.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written out in full (not imported from schema.py) so this revision stays what it was when
schema.py moves on; tests/smsgw/store/test_migrate.py checks it against schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# INTEGER on SQLite (rowid alias), BIGINT elsewhere.
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("allow_text", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("client_ref", sa.String(128), nullable=True),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("segments", sa.SmallInteger(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("template_id", sa.String(32), nullable=True),
        sa.Column("signature", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("submitted_at", sa.Float(), nullable=True),
        sa.Column("done_at", sa.Float(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("key_id", "client_ref", name="uq_messages_key_id_client_ref"),
    )
    op.create_index("ix_messages_channel_status_id", "messages", ["channel", "status", "id"])
    op.create_index("ix_messages_batch_id_status", "messages", ["batch_id", "status"])
    op.create_index("ix_messages_status_expires_at", "messages", ["status", "expires_at"])
    op.create_table(
        "segments",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.SmallInteger(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("smsc_id", sa.String(80), nullable=True),
        sa.Column("smsc_key", sa.String(80), nullable=True),
        sa.Column("stat", sa.String(16), nullable=True),
        sa.Column("err", sa.String(16), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("submitted_at", sa.Float(), nullable=True),
        sa.Column("done_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", "idx", name="pk_segments"),
    )
    op.create_index("ix_segments_channel_smsc_key", "segments", ["channel", "smsc_key"])
    op.create_table(
        "reports",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("client_ref", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stat", sa.String(16), nullable=True),
        sa.Column("err", sa.String(16), nullable=True),
        sa.Column("done_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_reports_key_id_id", "reports", ["key_id", "id"])
    op.create_table(
        "unmatched_reports",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("smsc_id", sa.String(80), nullable=False),
        sa.Column("smsc_key", sa.String(80), nullable=False),
        sa.Column("stat", sa.String(16), nullable=True),
        sa.Column("err", sa.String(16), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("matched_message_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_unmatched_reports"),
    )
    op.create_index("ix_unmatched_reports_channel_smsc_key", "unmatched_reports", ["channel", "smsc_key"])
    op.create_table(
        "mo_parts",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("total", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.SmallInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("coding", sa.SmallInteger(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "from_number", "reference", "total", "idx", name="pk_mo_parts"),
    )
    op.create_table(
        "mo_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("from_number", sa.String(32), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mo_messages"),
    )
    op.create_table(
        "callbacks",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_callbacks"),
    )
    op.create_index("ix_callbacks_state_next_attempt_at", "callbacks", ["state", "next_attempt_at"])
    op.create_table(
        "batches",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.String(32), nullable=True),
        sa.Column("signature", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("send_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
    )


def downgrade() -> None:
    for table in (
        "batches", "callbacks", "mo_messages", "mo_parts", "unmatched_reports", "reports", "segments",
        "messages", "api_keys",
    ):
        op.drop_table(table)  # drops the table's indexes with it
