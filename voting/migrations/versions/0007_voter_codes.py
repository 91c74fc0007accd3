"""Voter codes: each roll entry's code (encrypted, with a keyed hash unique in the election), and
the salted commitments to each contest's roll of codes.

Rows of rolls frozen before this migration keep no code: their codes would need DATA_KEY, which
a migration does not have, and their logged freeze commits to none.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("roll_entry") as batch:
        batch.add_column(sa.Column("code_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("code_lookup", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            "uq_roll_entry_election_code", ["election_id", "code_lookup"]
        )
        batch.create_check_constraint(
            "ck_roll_entry_code_whole", "(code_enc IS NULL) = (code_lookup IS NULL)"
        )
    op.create_table(
        "roll_commitment",
        sa.Column("contest_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("codes_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["contest_id"], ["contest.id"], name="fk_roll_commitment_contest_id_contest"
        ),
        sa.PrimaryKeyConstraint("contest_id", "size", name="pk_roll_commitment"),
    )


def downgrade() -> None:
    op.drop_table("roll_commitment")
    with op.batch_alter_table("roll_entry") as batch:
        batch.drop_constraint("ck_roll_entry_code_whole", type_="check")
        batch.drop_constraint("uq_roll_entry_election_code", type_="unique")
        batch.drop_column("code_lookup")
        batch.drop_column("code_enc")
