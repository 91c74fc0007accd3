"""Postal ballots: outer envelopes (four eyes), batches of inner envelopes, paper ballots
entered twice by two different committee members.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{referred}"))


def upgrade() -> None:
    op.create_table(
        "postal_envelope",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("registered_by", sa.Integer(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'counted', 'set_aside')",
            name=op.f("ck_postal_envelope_status_known"),
        ),
        sa.CheckConstraint(
            "confirmed_by IS NULL OR confirmed_by <> registered_by",
            name=op.f("ck_postal_envelope_four_eyes"),
        ),
        sa.CheckConstraint(
            "(status = 'pending') = (confirmed_by IS NULL)",
            name=op.f("ck_postal_envelope_confirmed_when_done"),
        ),
        _fk("postal_envelope", "election_id", "election.id"),
        _fk("postal_envelope", "contest_id", "contest.id"),
        _fk("postal_envelope", "member_id", "member.member_id"),
        _fk("postal_envelope", "registered_by", "staff_user.id"),
        _fk("postal_envelope", "confirmed_by", "staff_user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postal_envelope")),
        sa.UniqueConstraint(
            "contest_id", "member_id", name=op.f("uq_postal_envelope_contest_member")
        ),
    )
    for column in ("election_id", "contest_id", "member_id"):
        op.create_index(op.f(f"ix_postal_envelope_{column}"), "postal_envelope", [column])
    op.create_table(
        "postal_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("envelopes", sa.Integer(), nullable=False),
        sa.Column("opened_by", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_by", sa.Integer(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("envelopes >= 1", name=op.f("ck_postal_batch_not_empty")),
        sa.CheckConstraint(
            "(accepted_by IS NULL) = (accepted_at IS NULL)",
            name=op.f("ck_postal_batch_accepted_whole"),
        ),
        _fk("postal_batch", "election_id", "election.id"),
        _fk("postal_batch", "contest_id", "contest.id"),
        _fk("postal_batch", "opened_by", "staff_user.id"),
        _fk("postal_batch", "accepted_by", "staff_user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postal_batch")),
    )
    for column in ("election_id", "contest_id"):
        op.create_index(op.f(f"ix_postal_batch_{column}"), "postal_batch", [column])
    op.create_table(
        "paper_ballot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("first", sa.Text(), nullable=False),
        sa.Column("first_by", sa.Integer(), nullable=False),
        sa.Column("second", sa.Text(), nullable=True),
        sa.Column("second_by", sa.Integer(), nullable=True),
        sa.Column("resolved", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("position >= 1", name=op.f("ck_paper_ballot_position_positive")),
        sa.CheckConstraint(
            "second_by IS NULL OR second_by <> first_by", name=op.f("ck_paper_ballot_two_people")
        ),
        sa.CheckConstraint(
            "(second IS NULL) = (second_by IS NULL)", name=op.f("ck_paper_ballot_second_whole")
        ),
        sa.CheckConstraint(
            "(resolved IS NULL) = (resolved_by IS NULL)",
            name=op.f("ck_paper_ballot_resolved_whole"),
        ),
        _fk("paper_ballot", "batch_id", "postal_batch.id"),
        _fk("paper_ballot", "first_by", "staff_user.id"),
        _fk("paper_ballot", "second_by", "staff_user.id"),
        _fk("paper_ballot", "resolved_by", "staff_user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_ballot")),
        sa.UniqueConstraint("batch_id", "position", name=op.f("uq_paper_ballot_batch_position")),
    )
    op.create_index(op.f("ix_paper_ballot_batch_id"), "paper_ballot", ["batch_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_paper_ballot_batch_id"), table_name="paper_ballot")
    op.drop_table("paper_ballot")
    for column in ("election_id", "contest_id"):
        op.drop_index(op.f(f"ix_postal_batch_{column}"), table_name="postal_batch")
    op.drop_table("postal_batch")
    for column in ("election_id", "contest_id", "member_id"):
        op.drop_index(op.f(f"ix_postal_envelope_{column}"), table_name="postal_envelope")
    op.drop_table("postal_envelope")
