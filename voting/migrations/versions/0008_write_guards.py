"""Guards on what stays writable: a sealed election's schedule, a frozen roll, a link's token.

Triggers (PostgreSQL and SQLite) refuse
- an UPDATE of an election's schedule (the four times and the reminders) once its board is
  sealed;
- an UPDATE or DELETE of a roll entry once its election's roll is frozen (``roll add`` only
  INSERTs);
- an UPDATE that changes a voting link's token hash, election or member (revoking it, which
  sets ``revoked_at``, stays allowed).

Why the seal and not the wall clock for the schedule: the service checks the schedule against
the election's clock (a test's or the server's); the database's own clock would disagree with
every election that a test builds in the past. The seal is the database's own record that
voting has closed, written by the scheduler about a minute after the close.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

# ruff: noqa: S608 - the statements are built from the fixed column names below, nothing else

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEDULE = ("nomination_opens", "nomination_closes", "voting_opens", "voting_closes")
LINK_FIXED = ("token_hash", "election_id", "member_id")


def _changed(columns: tuple[str, ...], pg: bool) -> str:
    op_ = "IS DISTINCT FROM" if pg else "IS NOT"
    return " OR ".join(f"NEW.{c} {op_} OLD.{c}" for c in columns)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # reminder_hours is json, which has no equality: compare its text.
        schedule = _changed(SCHEDULE, pg=True) + (
            " OR NEW.reminder_hours::text IS DISTINCT FROM OLD.reminder_hours::text"
        )
        op.execute(
            f"""
            CREATE FUNCTION election_schedule_final() RETURNS trigger AS $$
            BEGIN
                IF ({schedule})
                   AND EXISTS (SELECT 1 FROM board_seal WHERE election_id = OLD.id) THEN
                    RAISE EXCEPTION 'the schedule of a sealed election is final';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER election_schedule_final BEFORE UPDATE ON election "
            "FOR EACH ROW EXECUTE FUNCTION election_schedule_final()"
        )
        op.execute(
            """
            CREATE FUNCTION roll_entry_frozen() RETURNS trigger AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM roll_freeze WHERE election_id = OLD.election_id) THEN
                    RAISE EXCEPTION 'the roll is frozen (% refused; roll add inserts)', TG_OP;
                END IF;
                IF TG_OP = 'DELETE' THEN
                    RETURN OLD;
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER roll_entry_frozen BEFORE UPDATE OR DELETE ON roll_entry "
            "FOR EACH ROW EXECUTE FUNCTION roll_entry_frozen()"
        )
        op.execute(
            f"""
            CREATE FUNCTION voter_link_fixed() RETURNS trigger AS $$
            BEGIN
                IF {_changed(LINK_FIXED, pg=True)} THEN
                    RAISE EXCEPTION 'a voting link keeps its token, election and member';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER voter_link_fixed BEFORE UPDATE ON voter_link "
            "FOR EACH ROW EXECUTE FUNCTION voter_link_fixed()"
        )
    else:
        schedule = _changed((*SCHEDULE, "reminder_hours"), pg=False)
        op.execute(
            "CREATE TRIGGER election_schedule_final BEFORE UPDATE ON election "
            f"WHEN ({schedule}) "
            "AND EXISTS (SELECT 1 FROM board_seal WHERE election_id = OLD.id) "
            "BEGIN SELECT RAISE(ABORT, 'the schedule of a sealed election is final'); END"
        )
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER roll_entry_frozen_{action.lower()} BEFORE {action} ON roll_entry "
                "WHEN EXISTS (SELECT 1 FROM roll_freeze WHERE election_id = OLD.election_id) "
                f"BEGIN SELECT RAISE(ABORT, 'the roll is frozen ({action} refused; roll add "
                "inserts)'); END"
            )
        op.execute(
            "CREATE TRIGGER voter_link_fixed BEFORE UPDATE ON voter_link "
            f"WHEN {_changed(LINK_FIXED, pg=False)} "
            "BEGIN SELECT RAISE(ABORT, 'a voting link keeps its token, election and member'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER voter_link_fixed ON voter_link")
        op.execute("DROP FUNCTION voter_link_fixed()")
        op.execute("DROP TRIGGER roll_entry_frozen ON roll_entry")
        op.execute("DROP FUNCTION roll_entry_frozen()")
        op.execute("DROP TRIGGER election_schedule_final ON election")
        op.execute("DROP FUNCTION election_schedule_final()")
    else:
        op.execute("DROP TRIGGER voter_link_fixed")
        op.execute("DROP TRIGGER roll_entry_frozen_delete")
        op.execute("DROP TRIGGER roll_entry_frozen_update")
        op.execute("DROP TRIGGER election_schedule_final")
