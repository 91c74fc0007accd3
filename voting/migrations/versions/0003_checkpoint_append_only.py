"""Signed checkpoints are append-only too: triggers refuse UPDATE and DELETE.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION checkpoint_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'checkpoint is append-only (% refused)', TG_OP;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER checkpoint_no_change BEFORE UPDATE OR DELETE ON checkpoint "
            "FOR EACH ROW EXECUTE FUNCTION checkpoint_append_only()"
        )
        op.execute(
            "CREATE TRIGGER checkpoint_no_truncate BEFORE TRUNCATE ON checkpoint "
            "FOR EACH STATEMENT EXECUTE FUNCTION checkpoint_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER checkpoint_no_{action.lower()} BEFORE {action} ON checkpoint "
                f"BEGIN SELECT RAISE(ABORT, 'checkpoint is append-only ({action} refused)'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER checkpoint_no_truncate ON checkpoint")
        op.execute("DROP TRIGGER checkpoint_no_change ON checkpoint")
        op.execute("DROP FUNCTION checkpoint_append_only()")
    else:
        op.execute("DROP TRIGGER checkpoint_no_update")
        op.execute("DROP TRIGGER checkpoint_no_delete")
