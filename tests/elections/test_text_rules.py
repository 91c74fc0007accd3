"""The election file's title and krets names: no control or bidi characters (issue 14, F10)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.ballot.conftest import BEFORE, ELECTION
from voting.elections.errors import ElectionFileError
from voting.elections.models import Election
from voting.elections.services import check_title, create_election, parse_election_file
from voting.members.models import Krets


@pytest.mark.parametrize("escape", ["\\u202E", "\\u2066", "\\u200F", "\\u0000", "\\n", "\\u0085"])
def test_a_bidi_or_control_character_in_a_krets_name_is_refused(db_session, escape):
    text = ELECTION.replace('name = "Bromma"', f'name = "Bro{escape}mma"')
    with pytest.raises(ElectionFileError, match=r"^krets\[2\]\.name: must not contain") as caught:
        create_election(db_session, text, BEFORE, by="cli")
    assert "(found U+" in str(caught.value)
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Election)) == 0
    assert db_session.scalar(select(func.count()).select_from(Krets)) == 0


@pytest.mark.parametrize("char", ["\u202e", "\u2067", "\u200e", "\u061c"])
def test_a_bidi_control_in_the_title_is_refused(char):
    with pytest.raises(ElectionFileError, match="^title: must not contain") as caught:
        check_title(f"Kongress{char}val 2027")
    assert f"U+{ord(char):04X}" in str(caught.value)
    text = ELECTION.replace('title = "Kongressombudsval 2027"', f'title = "Val{char} 2027"')
    with pytest.raises(ElectionFileError, match="^title: "):
        parse_election_file(text)


def test_names_in_other_scripts_are_kept():
    text = ELECTION.replace('name = "Bromma"', 'name = "Bromma – بروما"')
    assert parse_election_file(text)["contests"][1]["name"] == "Bromma – بروما"
