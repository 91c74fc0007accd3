"""Two people to move a voting link to a changed address: link_move, member.email_changed_at.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("member", sa.Column("email_changed_at", sa.DateTime(timezone=True)))
    op.create_table(
        "link_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("asked_by", sa.Integer(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'refused')",
            name=op.f("ck_link_move_status_known"),
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> asked_by", name=op.f("ck_link_move_two_people")
        ),
        sa.CheckConstraint(
            "(status = 'pending') = (decided_at IS NULL)",
            name=op.f("ck_link_move_decided_when_done"),
        ),
        sa.ForeignKeyConstraint(
            ["asked_by"], ["staff_user.id"], name=op.f("fk_link_move_asked_by_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["staff_user.id"], name=op.f("fk_link_move_decided_by_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["election_id"], ["election.id"], name=op.f("fk_link_move_election_id_election")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.member_id"], name=op.f("fk_link_move_member_id_member")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_move")),
    )
    op.create_index(op.f("ix_link_move_election_id"), "link_move", ["election_id"])
    op.create_index(op.f("ix_link_move_member_id"), "link_move", ["member_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_link_move_member_id"), table_name="link_move")
    op.drop_index(op.f("ix_link_move_election_id"), table_name="link_move")
    op.drop_table("link_move")
    op.drop_column("member", "email_changed_at")
