"""Issue 5: batch jobs: pause/resume/cancel, scheduled start, rejected rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Reserved in the revision chain so the platform features can be built side by side; the tables
arrive with their feature.
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
