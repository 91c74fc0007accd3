"""``voting vote``: the link from VOTING_LINK or standard input, not only the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ballots.client import VoterClient
from tests.ballot.conftest import flask_transport
from voting.ballot import cli as ballot_cli


@pytest.fixture
def through_app(client, monkeypatch):
    """The command's client talks to the test app in-process; the tokens it was given."""
    seen: list[str] = []

    def make(base, token, **kw):
        seen.append(token)
        return VoterClient(base, token, transport=flask_transport(client), **kw)

    monkeypatch.setattr(ballot_cli, "VoterClient", make)
    return seen


def _link(voting, member: str) -> str:
    return f"http://localhost/rosta/{voting.tokens[member]}"


def _invoke(voting, args, **kw):
    choose = ["--choose", voting.candidates["BROMMA"][0]]
    env = kw.pop("env", {})
    env.setdefault("VOTING_LINK", None)  # None: unset, whatever the test's shell has
    return CliRunner().invoke(ballot_cli.vote, [*args, *choose], env=env, **kw)


def test_the_link_from_the_environment(voting, through_app):
    result = _invoke(voting, [], env={"VOTING_LINK": _link(voting, "B1")})
    assert result.exit_code == 0, result.output
    assert '"ballot_hash"' in result.output
    assert through_app == [voting.tokens["B1"]]


def test_the_link_from_standard_input(voting, through_app):
    result = _invoke(voting, ["-"], input=_link(voting, "B2") + "\n")
    assert result.exit_code == 0, result.output
    assert '"ballot_hash"' in result.output
    assert through_app == [voting.tokens["B2"]]


def test_the_argument_form_still_works_and_wins_over_the_environment(voting, through_app):
    result = _invoke(
        voting, [_link(voting, "B1")], env={"VOTING_LINK": "http://localhost/rosta/other"}
    )
    assert result.exit_code == 0, result.output
    assert through_app == [voting.tokens["B1"]]


@pytest.mark.parametrize(("args", "stdin"), [([], None), (["-"], ""), (["-"], "  \n")])
def test_no_link_at_all_is_a_usage_error(voting, through_app, args, stdin):
    result = _invoke(voting, args, input=stdin)
    assert result.exit_code == 2
    assert "VOTING_LINK" in result.output
    assert through_app == []


def test_a_bad_link_from_stdin_is_refused_without_voting(voting, through_app):
    result = _invoke(voting, ["-"], input="not a link\n")
    assert result.exit_code == 2
    assert "LINK must be a voting link" in result.output
    assert through_app == []


def test_the_help_warns_that_the_argument_is_visible(voting):
    result = CliRunner().invoke(ballot_cli.vote, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "visible to other users" in text
    assert "VOTING_LINK" in text
    assert "LINK as - and the link on standard input" in text
