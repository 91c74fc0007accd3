"""Swedish eID sign-in: each election's sign-in mode, and staff accounts mapped to an eID.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MODES = "sign_in IN ('link', 'eid', 'link+eid')"


def upgrade() -> None:
    # "link" for every existing election: nothing changes for them.
    if op.get_bind().dialect.name == "sqlite":
        # SQLite takes a CHECK in ADD COLUMN (no table rebuild; election is referenced by many).
        op.execute(
            "ALTER TABLE election ADD COLUMN sign_in VARCHAR(10) DEFAULT 'link' NOT NULL "
            f"CONSTRAINT ck_election_sign_in_known CHECK ({MODES})"
        )
    else:
        op.add_column(
            "election",
            sa.Column("sign_in", sa.String(10), server_default="link", nullable=False),
        )
        op.create_check_constraint("ck_election_sign_in_known", "election", MODES)
    op.create_table(
        "staff_eid",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("pnr_lookup", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name="fk_staff_eid_user_id_staff_user"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_staff_eid"),
        sa.UniqueConstraint("pnr_lookup", name="uq_staff_eid_pnr_lookup"),
    )


def downgrade() -> None:
    op.drop_table("staff_eid")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_election_sign_in_known", "election", type_="check")
    # SQLite 3.35+ drops a column only without a CHECK on it: rebuild the table there.
    with op.batch_alter_table("election") as batch:
        batch.drop_column("sign_in")
