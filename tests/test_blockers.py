"""Blockers carry a code and params; the page and the command line each say them in their way."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from hypothesis import given
from hypothesis import strategies as st

from voting.errors import PLAIN, Blocker, TransitionBlocked, VotingError
from voting.web import BLOCKER_LABELS, VOTING_ERROR_LABELS, blocker_label, error_reason

# What each code's params are, as the guards pass them.
PARAMS = {
    "candidates_already_published": {"time": "2026-12-01 10:00 (Europe/Stockholm)"},
    "nomination_not_closed": {"time": "2026-11-30 23:59 (Europe/Stockholm)"},
    "awaiting_review": {"krets": "Södermalm (SODERMALM)", "num": 2},
    "no_vote_unconfirmed": {"lines": "Norr: 1 kandidat"},
    "board_not_sealed": {"slug": "val-2027"},
    "contest_not_sealed": {"contest": "7"},
    "board_inconsistent": {"problem": "ballot abc: signature does not verify"},
    "seed_invalid": {"max": 200},
    "not_counted": {"slug": "val-2027"},
    "link_move_too_late": {"hours": 48},
    "letter_move_too_late": {"hours": 48},
}


def test_every_code_has_a_page_text_and_a_plain_text():
    assert set(BLOCKER_LABELS) == set(PLAIN)


def test_an_unknown_code_is_refused():
    with pytest.raises(ValueError, match="unknown blocker code 'no_such_thing'"):
        Blocker("no_such_thing")


@pytest.mark.parametrize("code", sorted(PLAIN))
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_each_blocker_reads_with_its_params_filled_in(app, code, lang):
    blocker = Blocker(code, PARAMS.get(code, {}))
    with app.test_request_context(), force_locale(lang):
        said = blocker_label(blocker)
    assert "%(" not in said
    assert "{" not in str(blocker)
    for name, value in PARAMS.get(code, {}).items():
        assert str(value) in str(blocker)
        # The slug is for the command to type next, which a page does not ask for.
        assert (str(value) in said) is (name != "slug")


def test_the_page_picks_singular_or_plural(app):
    with app.test_request_context():
        one = blocker_label(Blocker("awaiting_review", {"krets": "Norr (NORR)", "num": 1}))
        two = blocker_label(Blocker("awaiting_review", {"krets": "Norr (NORR)", "num": 2}))
    assert one == "Norr (NORR): 1 nominering väntar på granskning."
    assert two == "Norr (NORR): 2 nomineringar väntar på granskning."


@given(st.lists(st.sampled_from(["voting_closed", "roll_not_frozen", "voting_not_open"])))
def test_a_blocked_transition_lists_every_blocker_in_order(codes):
    exc = TransitionBlocked([Blocker(c) for c in codes])
    assert exc.codes == codes
    assert exc.status == 409
    assert exc.code == "blocked"
    assert exc.message == "; ".join(str(PLAIN[c]) for c in codes)


def test_error_reason_says_blockers_and_codes_in_the_readers_language(app):
    blocked = TransitionBlocked([Blocker("voting_closed"), Blocker("roll_not_frozen")])
    on_roll = VotingError("the member is already on the roll", code="already_on_roll")
    unknown = VotingError("something new")
    with app.test_request_context(), force_locale("sv"):
        assert error_reason(blocked) == "röstningen har stängt; röstlängden är inte fryst"
        assert error_reason(on_roll) == str(VOTING_ERROR_LABELS["already_on_roll"])
        assert error_reason(unknown) == "something new"
    with app.test_request_context(), force_locale("en"):
        assert error_reason(blocked) != "röstningen har stängt; röstlängden är inte fryst"
