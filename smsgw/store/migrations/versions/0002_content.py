"""Issue 5: signatures and templates with their approval state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Reserved in the revision chain so the platform features can be built side by side; the tables
arrive with their feature.
"""

from __future__ import annotations

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
