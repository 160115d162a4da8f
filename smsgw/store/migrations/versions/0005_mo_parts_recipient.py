"""The primary key of ``mo_parts`` gains ``to_number``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

A long MO is identified by its sender, its recipient, its reference and its part count (3GPP
23.040): one sender writing to two service numbers of a channel may use the same reference
for both at once. Keyed without the recipient, a part of one replaced the other's row with
the same index, and storing one whole deleted the other's parts. Every existing row stays
(the new key only adds a column). SQLite recreates the table (batch mode); PostgreSQL drops
and adds the constraint. The downgrade fails, leaving 0005, while two such messages are
being reassembled (their parts would collide): at most the MO max age, 10 minutes.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OLD = ["channel", "from_number", "reference", "total", "idx"]
_NEW = ["channel", "from_number", "to_number", "reference", "total", "idx"]


def _primary_key(columns: list[str]) -> None:
    with op.batch_alter_table("mo_parts") as batch:
        batch.drop_constraint("pk_mo_parts", type_="primary")
        batch.create_primary_key("pk_mo_parts", columns)


def upgrade() -> None:
    _primary_key(_NEW)


def downgrade() -> None:
    _primary_key(_OLD)
