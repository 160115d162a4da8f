"""Issue 5: blacklist and whitelist.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Written out in full (not imported from schema.py); tests/smsgw/store/test_migrate.py checks
it against schema.py. The frequency limits need no table: they are rebuilt at start from the
``messages`` rows of the last day, found by primary key range (ids are time-sortable).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# INTEGER on SQLite (rowid alias), BIGINT elsewhere.
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "blacklist",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_blacklist"),
        sa.UniqueConstraint("number", "signature", name="uq_blacklist_number_signature"),
    )
    op.create_table(
        "whitelist",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_whitelist"),
        sa.UniqueConstraint("number", name="uq_whitelist_number"),
    )


def downgrade() -> None:
    op.drop_table("whitelist")
    op.drop_table("blacklist")
