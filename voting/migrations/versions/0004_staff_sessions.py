"""Staff accounts: a session epoch, disabling, and the count of failed logins.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both backends (no table rebuild on SQLite). Sessions begun before this
    # carry no epoch and end: everyone logs in once more after the upgrade.
    op.add_column(
        "staff_user", sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("staff_user", sa.Column("disabled_at", sa.DateTime(timezone=True)))
    op.add_column(
        "staff_user", sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("staff_user", sa.Column("login_delay_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # SQLite has DROP COLUMN since 3.35; no table rebuild (staff_user is referenced by others).
    for column in ("login_delay_until", "failed_logins", "disabled_at", "session_epoch"):
        op.drop_column("staff_user", column)
