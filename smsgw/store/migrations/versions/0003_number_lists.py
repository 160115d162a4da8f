"""Issue 5: blacklist and whitelist.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Reserved in the revision chain so the platform features can be built side by side; the tables
arrive with their feature.
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
