"""Voting letters: a letter's code is a kind of voter link; the letters PDF waits encrypted.

- ``voter_link.kind``: ``link`` (an emailed token) or ``letter`` (a code printed in a letter);
  ``voter_link.address_hash``: a keyed hash of the postal address a letter went to, so that a
  replacement to another address takes two committee members, as a moved link does.
- ``link_move.kind``: which of the two a pending move would send.
- ``letter_batch``: a generated letters PDF, AES-GCM encrypted, until the committee downloads it.

Why plain ADD COLUMN and no batch mode: SQLite's batch mode copies the table, which would drop
the ``voter_link_fixed`` trigger of migration 0008.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "voter_link",
        sa.Column("kind", sa.String(length=10), nullable=False, server_default="link"),
    )
    op.add_column("voter_link", sa.Column("address_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "link_move",
        sa.Column("kind", sa.String(length=10), nullable=False, server_default="link"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint(
            "ck_voter_link_kind_known", "voter_link", "kind IN ('link', 'letter')"
        )
        op.create_check_constraint(
            "ck_link_move_kind_known", "link_move", "kind IN ('link', 'letter')"
        )
    op.create_table(
        "letter_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("election_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("letters", sa.Integer(), nullable=False),
        sa.Column("pdf_enc", sa.LargeBinary(), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["election_id"], ["election.id"], name="fk_letter_batch_election_id_election"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_letter_batch"),
    )
    op.create_index("ix_letter_batch_election_id", "letter_batch", ["election_id"])


def downgrade() -> None:
    op.drop_index("ix_letter_batch_election_id", table_name="letter_batch")
    op.drop_table("letter_batch")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_link_move_kind_known", "link_move", type_="check")
        op.drop_constraint("ck_voter_link_kind_known", "voter_link", type_="check")
    with op.batch_alter_table("link_move") as batch:
        batch.drop_column("kind")
    op.drop_column("voter_link", "address_hash")
    op.drop_column("voter_link", "kind")
