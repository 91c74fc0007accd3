"""The public questionnaire: the same answer for everyone, the register checked by mail only."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.nominations.conftest import (
    NOMINEE_PNR,
    SLUG,
    form_data,
    link_in,
    mails,
    rows,
)
from voting.nominations.models import Nomination, NominationSubmission, SubmissionStatus
from voting.tokens import LinkToken

URL = f"/val/{SLUG}/nominera"
SENT = "Vi har tagit emot formuläret. Svaret kommer med e-post till"
# What the page used to say whatever the register said, though the mail may be a refusal.
CLAIMED_SUCCESS = "Ett bekräftelsemejl har skickats"


def test_form_renders_with_foreningar_grouped_by_krets(client, register):
    response = client.get(URL)
    assert response.status_code == 200
    html = response.text
    assert '<optgroup label="Södermalm">' in html
    assert "S-föreningen Söder" in html
    # The nominee is always asked by mail, so the nominator is no longer asked about it.
    assert "tillfrågats och accepterat" not in html
    assert "nominee_has_accepted" not in html
    assert 'aria-describedby="nominator_email-hint"' in html
    # "As a member" is preselected; the förening list belongs to the other choice.
    assert 'value="member" checked' in html or 'checked id="nominating_as-0"' in html
    assert html.index('value="forening"') < html.index('<select id="forening_id"')
    assert 'class="field conditional' in html


def test_unknown_election_is_404(client, register):
    assert client.get("/val/finns-inte/nominera").status_code == 404


def test_member_happy_path_stores_unconfirmed_and_mails_link(client, register):
    response = client.post(URL, data=form_data())
    assert response.status_code == 200
    assert f"{SENT} anna@example.org" in response.text
    assert CLAIMED_SUCCESS not in response.text
    [submission] = rows(NominationSubmission)
    assert submission.status == SubmissionStatus.UNCONFIRMED
    assert submission.nominator_member_id == "1001"
    assert submission.forening_id is None
    assert submission.nominee_member_id == "1002"
    assert submission.nominator_says_accepted is False  # no longer asked
    assert submission.motivation == "Erfaren och engagerad."
    assert submission.nomination_id is None
    assert rows(Nomination) == []
    [(subject, body)] = mails("anna@example.org")
    assert subject.startswith("Bekräfta din nominering")
    assert "Karl Berg" in body
    assert "Södermalm" in body
    assert link_in(body).startswith("/nominera/bekrafta/")
    # The token is stored only as its hash.
    token = link_in(body).rsplit("/", 1)[1]
    assert all(token not in t.token_hash for t in rows(LinkToken))


def test_nominee_by_personnummer_and_one_of_the_first_names(client, register):
    short = f"{NOMINEE_PNR[2:8]}-{NOMINEE_PNR[8:]}"
    response = client.post(
        URL,
        data=form_data(
            nominee_identifier=short, nominee_first_name="johan", nominee_last_name="BERG"
        ),
    )
    assert response.status_code == 200
    [submission] = rows(NominationSubmission)
    assert submission.nominee_member_id == "1002"


def test_forening_happy_path(client, register):
    response = client.post(
        URL,
        data=form_data(
            nominator_email="Soder@Example.org",
            nominating_as="forening",
            forening_id=str(register.forening_id),
        ),
    )
    assert response.status_code == 200
    assert f"{SENT} soder@example.org" in response.text
    [submission] = rows(NominationSubmission)
    assert submission.forening_id == register.forening_id
    assert submission.nominator_member_id is None
    assert len(mails("soder@example.org")) == 1


def test_non_member_gets_same_page_but_no_mail_and_nothing_is_stored(client, register):
    member = client.post(URL, data=form_data())
    stranger = client.post(URL, data=form_data(nominator_email="stranger@example.net"))
    assert stranger.status_code == member.status_code == 200
    assert f"{SENT} stranger@example.net" in stranger.text
    # Same page apart from the address and the CSRF-free form: nothing tells them apart.
    assert stranger.text.replace("stranger@example.net", "X") == member.text.replace(
        "anna@example.org", "X"
    )
    assert len(rows(NominationSubmission)) == 1  # only the member's
    # An address in no register is not mailed at all (F6): the form mails no strangers.
    assert mails("stranger@example.net") == []


def test_forening_with_wrong_contact_is_refused_by_mail(client, register):
    response = client.post(
        URL,
        data=form_data(nominating_as="forening", forening_id=str(register.forening_id)),
    )
    assert response.status_code == 200
    assert SENT in response.text
    assert rows(NominationSubmission) == []
    [(subject, body)] = mails("anna@example.org")
    assert "Ingen nominering registrerades" in subject
    assert "kontaktadress" in body
    assert f"/val/{SLUG}/nominera" in body  # the way back to the form


@pytest.mark.parametrize(
    "overrides",
    [
        {"nominee_last_name": "Bergström"},
        {"nominee_first_name": "Kalle"},
        {"nominee_identifier": "9999"},
        {"nominee_identifier": "19800517-1232"},  # valid form, nobody in the register
    ],
)
def test_unidentified_nominee_is_told_by_mail(client, register, overrides):
    if overrides.get("nominee_identifier") == "19800517-1232":
        from datetime import date

        from voting.members.pnr import make_personnummer

        overrides = {"nominee_identifier": make_personnummer(date(1980, 5, 17), 999)}
    response = client.post(URL, data=form_data(**overrides))
    assert response.status_code == 200
    assert SENT in response.text
    assert CLAIMED_SUCCESS not in response.text
    assert rows(NominationSubmission) == []
    [(subject, body)] = mails("anna@example.org")
    assert "kunde inte registreras" in subject
    assert "Vi hittade ingen medlem i Södermalm med de uppgifter du angav." in " ".join(
        body.split()
    )
    assert f"/val/{SLUG}/nominera" in body


def test_member_may_not_nominate_in_another_krets(client, register):
    response = client.post(
        URL,
        data=form_data(
            nominee_first_name="Olle", nominee_last_name="Nord", nominee_identifier="1004"
        ),
    )
    assert response.status_code == 200
    assert SENT in response.text
    assert rows(NominationSubmission) == []
    [(_subject, body)] = mails("anna@example.org")
    # The same words as for a nominee who cannot be identified (F7; test_mail_rules.py).
    assert "Vi hittade ingen medlem i Södermalm med de uppgifter du angav." in " ".join(
        body.split()
    )
    assert "tillhör inte" not in body
    assert "Som medlem kan du bara nominera medlemmar i samma krets" in " ".join(body.split())


def test_forening_may_not_nominate_in_another_krets(client, register):
    response = client.post(
        URL,
        data=form_data(
            nominator_email="norr@example.org",
            nominating_as="forening",
            forening_id=str(register.other_forening_id),
        ),
    )
    assert response.status_code == 200
    assert rows(NominationSubmission) == []
    [(_subject, body)] = mails("norr@example.org")
    assert "Vi hittade ingen medlem i Norrmalm med de uppgifter du angav." in " ".join(body.split())
    assert "Som förening kan du bara nominera medlemmar i samma krets" in " ".join(body.split())


def test_nominee_without_email_is_refused_by_mail(client, register):
    client.post(
        URL,
        data=form_data(
            nominee_first_name="Nils", nominee_last_name="Utan", nominee_identifier="1005"
        ),
    )
    assert rows(NominationSubmission) == []
    [(_subject, body)] = mails("anna@example.org")
    assert "ingen\ne-postadress" in body or "ingen e-postadress" in body


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"nominator_email": ""}, "nominator_email", "Ange din e-postadress."),
        ({"nominator_email": "not-an-address"}, "nominator_email", "Ange en giltig e-postadress."),
        ({"nominating_as": ""}, "nominating_as", "Välj hur du nominerar."),
        ({"nominating_as": "forening"}, "forening_id", "Välj vilken förening"),
        (
            {"nominating_as": "forening", "forening_id": "99999"},
            "forening_id",
            "Välj vilken förening",
        ),
        ({"nominee_first_name": " "}, "nominee_first_name", "Ange den nominerades förnamn."),
        ({"nominee_last_name": "x" * 201}, "nominee_last_name", "Högst 200 tecken."),
        ({"nominee_identifier": "19800517-1231"}, "nominee_identifier", "Personnumret"),
        ({"nominee_identifier": "1002; DROP"}, "nominee_identifier", "medlemsnummer"),
        ({"motivation": "m" * 1001}, "motivation", "Högst 1000 tecken."),
        ({"nominee_first_name": "Karl\x00"}, "nominee_first_name", "otillåtna tecken"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(client, register, overrides, field, message):
    response = client.post(URL, data=form_data(**overrides))
    assert response.status_code == 400
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert SENT not in response.text
    assert rows(NominationSubmission) == []
    assert mails() == []


STOCKHOLM = ZoneInfo("Europe/Stockholm")


def test_deadline_holds_in_stockholm_time(client, register, clock):
    clock.set(datetime(2026, 11, 30, 23, 59, 59, tzinfo=STOCKHOLM))
    assert client.post(URL, data=form_data()).status_code == 200
    assert len(rows(NominationSubmission)) == 1
    clock.set(datetime(2026, 12, 1, 0, 0, 0, tzinfo=STOCKHOLM))
    refused = client.post(URL, data=form_data(nominator_email="eva@example.org"))
    assert refused.status_code == 403
    assert "Nomineringen är stängd." in refused.text
    assert len(rows(NominationSubmission)) == 1
    assert len(mails()) == 1
    page = client.get(URL)
    assert page.status_code == 200
    assert "Nomineringen är stängd." in page.text
    assert "<form" not in page.text.split("<main", 1)[1]


def test_before_the_window_opens(client, register, clock):
    clock.set(datetime(2026, 9, 1, tzinfo=UTC))
    page = client.get(URL)
    assert "Nomineringen har inte öppnat ännu." in page.text
    assert client.post(URL, data=form_data()).status_code == 403
    assert rows(NominationSubmission) == []
