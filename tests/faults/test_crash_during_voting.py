"""Crash during voting: SIGKILL a gunicorn worker, then the whole app server, while votes go on.

Real processes on PostgreSQL: the election and gunicorn come from ``scripts/bench_setup.py`` and
the voting from ``scripts/crash_vote.py``, as ``scripts/bench_vote.py --crash`` runs them. Many
client threads vote with careful clients that keep their saved state (blinded message, then the
signed ballot) and retry with it after a dropped connection. Afterwards: every receipt is on the
board, no member holds two signatures, each voter is counted exactly once, and the exported
election record verifies.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditlog import canonical_json
from auditlog import verify as verifier
from voting.db import make_engine
from voting.lifecycle.seal import seal_board

VOTERS = 360
CLIENT_THREADS = 16
WORKERS = 3


def export_record(url: str, config: dict[str, str]) -> dict[str, Any]:
    """Close, seal, count and export the election in-process, with a clock after the close."""
    from voting import create_app
    from voting.audit.record import build_record, ensure_final_checkpoint
    from voting.db import db
    from voting.elections.services import get_election
    from voting.lifecycle.tally import tally

    with create_app({**config, "DATABASE_URL": url}).app_context() as ctx:
        with db.transaction() as s:
            election = get_election(s, "bench")
            after = election.voting_closes + timedelta(hours=1)
            seal_board(s, election, after, by="cli")
            tally(s, election, "crash test seed", after, by="cli")
            ensure_final_checkpoint(s, election, after)
        with db.transaction() as s:
            record = build_record(s, get_election(s, "bench"))
        ctx.app.extensions["db"]["engine"].dispose()
    return json.loads(json.dumps(record))


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_votes_survive_killed_workers_and_a_killed_server(pg_database):
    from bench_setup import Gunicorn, new_config, setup
    from crash_vote import vote_through_crashes

    config = new_config()
    slug, voters = setup(pg_database, VOTERS, 2048, config)
    server = Gunicorn(pg_database, config, workers=WORKERS, threads=4).start()
    try:
        run = vote_through_crashes(server, slug, voters, threads=CLIENT_THREADS)
    finally:
        server.stop()
    outcomes = run.outcomes
    retried = [o for o in outcomes if o.retries]
    print(run.chaos, f"{len(retried)} clients retried, {sum(o.retries for o in outcomes)} retries")
    assert len(run.chaos) == 3, run.chaos  # a worker killed, the server killed and restarted

    problems = [(o.member_id, o.problems) for o in outcomes if o.problems]
    assert not problems, problems[:5]
    assert all(o.receipt is not None for o in outcomes)
    # The kills must really have hit requests in flight, or this test proves nothing.
    assert retried, "no client saw a failed request"
    assert any(o.resubmitted for o in outcomes)

    # Every receipt is signed by the election's log key and names a ballot on the board.
    log_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(run.manifest.raw["log_key"]))
    for o in outcomes:
        receipt = dict(o.receipt or {})
        signature = base64.b64decode(receipt.pop("server_signature"))
        log_key.verify(signature, canonical_json(receipt))
        assert receipt["ballot_hash"] in run.board[o.contest], o.member_id
    # Counted exactly once: one ballot per voter, resubmissions and retries included.
    assert sum(len(hashes) for hashes in run.board.values()) == VOTERS
    assert len({o.receipt["ballot_hash"] for o in outcomes if o.receipt}) == VOTERS

    engine = make_engine(pg_database)
    try:
        with engine.connect() as conn:
            twice = conn.execute(
                sa.text(
                    "SELECT contest_id, voter FROM signature_issued "
                    "GROUP BY contest_id, voter HAVING count(*) > 1"
                )
            ).all()
            issued = conn.scalar(sa.text("SELECT count(*) FROM signature_issued"))
    finally:
        engine.dispose()
    assert twice == []
    assert issued == VOTERS  # one signature per voter: none lost, none extra

    record = export_record(pg_database, config)
    checks = verifier.verify_record(record, expected_fingerprint=record["log"]["fingerprint"])
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert sum(len(b["ballots"]) for b in record["board"]) == VOTERS
    assert sum(c["signatures_issued"] for c in record["contests"]) == VOTERS
