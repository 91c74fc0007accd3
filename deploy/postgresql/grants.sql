-- Run as kongressval_owner after every `voting db upgrade` (a migration may add tables):
--   psql -v ON_ERROR_STOP=1 "postgresql://kongressval_owner@/kongressval" -f deploy/postgresql/grants.sql
-- It is idempotent.
GRANT USAGE ON SCHEMA public TO kongressval_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kongressval_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO kongressval_app;
-- The audit log and its signed checkpoints are append-only. Triggers refuse UPDATE and DELETE
-- already; without the rights as well, even a trigger dropped by mistake would not let the
-- running app (or whoever steals its password) rewrite history.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry, checkpoint FROM kongressval_app;
-- The board, the signatures issued, the seal, the count and the keys are written once and never
-- changed by the app (ON CONFLICT DO NOTHING needs only INSERT). Without UPDATE and DELETE, a
-- stolen app password cannot drop a ballot before the seal, nor delete a signature_issued row so
-- that a member could be signed for twice. (tests/ops/test_pg_roles.py runs a whole election,
-- close and count included, as the app role with these rights.)
REVOKE UPDATE, DELETE, TRUNCATE ON ballot, signature_issued, board_seal, tally,
  results_publication, roll_freeze, roll_commitment, contest_key, log_key FROM kongressval_app;
-- The schema version is the owner's business; the app only reads it (for /readyz).
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM kongressval_app;
-- The voter roll is inserted (at the freeze and by `voting roll add`) and never changed; a
-- trigger also refuses UPDATE and DELETE once the roll is frozen (migration 0008).
REVOKE UPDATE, DELETE, TRUNCATE ON roll_entry FROM kongressval_app;
-- A voting link may be revoked (revoked_at) and new links inserted, but an existing token hash
-- never changed: otherwise a stolen app password could point a member's link at a token its
-- holder knows. (REVOKE on the table takes the column rights with it; hence the order.)
REVOKE UPDATE, DELETE, TRUNCATE ON voter_link FROM kongressval_app;
GRANT UPDATE (revoked_at) ON voter_link TO kongressval_app;
-- Staff accounts: the running service only counts logins and ends sessions. Creating accounts,
-- roles, passwords, TOTP secrets, disabling and eID mappings are the owner's, through
-- `voting admin ... --owner-url` (docs/deployment.md): a stolen app password cannot make itself
-- an admin, take over an account or lock everyone out.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON staff_user, staff_eid FROM kongressval_app;
GRANT UPDATE (totp_last_step, last_login_at, session_epoch, failed_logins, login_delay_until)
  ON staff_user TO kongressval_app;
