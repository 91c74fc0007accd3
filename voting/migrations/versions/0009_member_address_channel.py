"""A member's postal address (encrypted) and voting channel (email, letter or postal ballot).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("address_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(
            sa.Column("channel", sa.String(length=10), nullable=False, server_default="email")
        )
        batch.create_check_constraint(
            "ck_member_channel_known", "channel IN ('email', 'letter', 'postal')"
        )


def downgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.drop_constraint("ck_member_channel_known", type_="check")
        batch.drop_column("channel")
        batch.drop_column("address_enc")
