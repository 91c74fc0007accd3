"""Letters as PostgreSQL's app role (deploy/postgresql/grants.sql): making, replacing and handing
out letters work; changing a letter code's hash, kind or address afterwards does not."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import make_app
from tests.letters.conftest import CONTACT, codes_in, election_now, setup_letters
from tests.ops.test_pg_roles import roles  # noqa: F401 (a fixture)
from voting.db import db
from voting.letters import services
from voting.members.models import Member


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_app_role_makes_and_hands_out_letters(roles, clock, smtp, tmp_path, rsa_keys):  # noqa: F811
    _, app_url = roles
    application = make_app(app_url, clock, smtp.port, tmp_path)
    try:
        with application.app_context():
            setup = setup_letters(clock, rsa_keys)
            assert len(codes_in(setup.pdf)) == 2
            with db.transaction() as s:
                done = services.issue_letters(s, election_now(), clock(), "x", CONTACT, by=1)
                batch = services.replace_letter(
                    s, election_now(), s.get_one(Member, "B2"), clock(), "x", CONTACT, by=1
                )
                assert (
                    len(
                        codes_in(services.download(s, election_now(), done.batch.id, clock(), by=1))
                    )
                    == 2
                )
                assert (
                    len(codes_in(services.download(s, election_now(), batch.id, clock(), by=1)))
                    == 1
                )
    finally:
        application.extensions["db"]["engine"].dispose()
    with psycopg.connect(app_url, autocommit=True) as conn:
        for statement in (
            "UPDATE voter_link SET kind = 'link'",
            "UPDATE voter_link SET address_hash = NULL",
            "UPDATE voter_link SET token_hash = token_hash",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
