"""Names and free text typed into the questionnaire and the presentation: no control characters,
no bidi controls in names and links, no bidi overrides in free text (issue 14, F10)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.nominations.conftest import (
    SLUG,
    form_data,
    mails,
    nominate_and_confirm,
    open_as_nominee,
    rows,
)
from tests.nominations.test_presentation import _save
from voting.nominations.models import Nomination, NominationSubmission

URL = f"/val/{SLUG}/nominera"
SENT = "Vi har tagit emot formuläret. Svaret kommer med e-post till"
BIDI_REORDERING = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]
BIDI_MARKS = ["\u061c", "\u200e", "\u200f"]
CONTROLS = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]


@pytest.fixture
def accepted(client, register):
    """The test client as a nominee who has accepted, on the presentation page."""
    nominate_and_confirm(client)
    open_as_nominee(client)
    assert client.post("/kandidat", data={"accept": "1"}).status_code == 302
    return client


def _refused(client, field: str, value: str) -> None:
    response = client.post(URL, data=form_data(**{field: value}))
    assert response.status_code == 400, response.text
    assert f'id="{field}-error"' in response.text
    assert "otillåtna tecken" in response.text
    assert rows(NominationSubmission) == []
    assert mails() == []


@pytest.mark.parametrize("char", BIDI_REORDERING + BIDI_MARKS + ["\n", "\r", "\u2028"])
@pytest.mark.parametrize("field", ["nominee_first_name", "nominee_last_name"])
def test_a_bidi_control_or_line_break_in_a_name_is_refused(client, register, field, char):
    _refused(client, field, f"Ka{char}rl")


@pytest.mark.parametrize("char", BIDI_REORDERING)
def test_a_bidi_override_in_the_motivation_is_refused(client, register, char):
    _refused(client, "motivation", f"Bra {char}kandidat.")


def test_line_breaks_and_bidi_marks_in_the_motivation_are_kept(client, register):
    response = client.post(URL, data=form_data(motivation="Bra.\r\nשלום\u200f (Hebreiska)"))
    assert response.status_code == 200
    assert SENT in response.text


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=st.text(max_size=20),
    bad=st.sampled_from(BIDI_REORDERING + BIDI_MARKS + CONTROLS),
    at=st.integers(0, 20),
    field=st.sampled_from(["nominee_first_name", "nominee_last_name"]),
)
def test_any_name_with_a_control_or_bidi_character_stores_nothing(
    client, register, text, bad, at, field
):
    value = "K" + text[:at] + bad + text[at:] + "l"
    response = client.post(URL, data=form_data(**{field: value}))
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert rows(NominationSubmission) == []
    assert mails() == []


@pytest.mark.parametrize("char", BIDI_REORDERING + ["\x00", "\x1b"])
def test_a_bidi_override_or_control_in_the_presentation_is_refused(accepted, char):
    response = _save(accepted, text=f"Hej{char} där")
    assert response.status_code == 400
    assert 'id="text-error"' in response.text
    [nomination] = rows(Nomination)
    assert nomination.presentation is None


def test_bidi_marks_in_the_presentation_are_kept(accepted):
    text = "Jag heter Dana.\nעברית\u200f och svenska."
    assert _save(accepted, text=text).status_code == 302
    [nomination] = rows(Nomination)
    assert nomination.presentation == text


@pytest.mark.parametrize("char", BIDI_REORDERING + BIDI_MARKS)
def test_a_bidi_control_in_a_link_is_refused(accepted, char):
    response = _save(accepted, text="Hej", link_1=f"https://example.org/{char}gpj.exe")
    assert response.status_code == 400
    assert 'id="link_1-error"' in response.text
    assert "Länken är inte en giltig adress." in response.text
    [nomination] = rows(Nomination)
    assert nomination.links is None
