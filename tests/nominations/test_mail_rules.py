"""What the questionnaire mails, and to whom (issue 14, items 3 and 19; F6 and F7).

- The page claims no success: the same words whatever the register said.
- A refusal repeats what was typed, with a link back to the form, never the personnummer.
- Only addresses in the register are mailed, at most a few times a day each.
- "Could not be identified" and "a member of another krets" get one and the same mail.
"""

from __future__ import annotations

from datetime import date, timedelta

from tests.nominations.conftest import (
    DURING,
    NOMINEE_PNR,
    SLUG,
    add_member,
    form_data,
    mails,
    rows,
)
from voting.db import db
from voting.members.pnr import make_personnummer
from voting.nominations.models import NominationSubmission

URL = f"/val/{SLUG}/nominera"
FORM_LINK = f"http://localhost/val/{SLUG}/nominera"
ANSWER = "Vi har tagit emot formuläret. Svaret kommer med e-post till"
OLD_CLAIM = "Ett bekräftelsemejl har skickats"
# A Norrmalm member, identified by personnummer; Anna (Södermalm) may not nominate her.
NORR_PNR = make_personnummer(date(1975, 3, 9), 456)
UNKNOWN_PNR = make_personnummer(date(1975, 3, 9), 789)


def _main(html: str) -> str:
    """The page's <main>, with the address typed replaced (it is echoed on purpose)."""
    return html.split("<main", 1)[1].split("</main>", 1)[0]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_outcome_gets_the_same_page_and_none_claims_success(client, register):
    cases = {
        "confirmation": form_data(),
        "unidentified": form_data(nominee_identifier="9999"),
        "other krets": form_data(
            nominee_first_name="Olle", nominee_last_name="Nord", nominee_identifier="1004"
        ),
        "no address in the register": form_data(nominator_email="nobody@example.net"),
    }
    pages = {}
    for name, data in cases.items():
        response = client.post(URL, data=data)
        assert response.status_code == 200, name
        pages[name] = _main(response.text).replace(data["nominator_email"], "ADDRESS")
    for name, page in pages.items():
        assert ANSWER in page, name
        assert OLD_CLAIM not in page, name
        assert 'class="success"' not in page, name
        assert page == pages["confirmation"], name
    assert "<title>Kontrollera din e-post" in client.post(URL, data=form_data()).text


def test_a_refusal_repeats_what_was_typed_and_links_back_to_the_form(client, register):
    client.post(
        URL,
        data=form_data(
            nominee_first_name="Karl",
            nominee_last_name="Bergström",  # does not match the register
            nominee_identifier="1002",
            motivation="Erfaren.\r\nOch engagerad.",
        ),
    )
    [(subject, body)] = mails("anna@example.org")
    assert "Bergström" not in subject  # nothing typed goes into a subject
    assert "kunde inte registreras" in subject
    assert "Den nominerade: Karl Bergström" in body
    assert "Medlemsnummer: 1002" in body
    assert "Du nominerade: som enskild medlem" in body
    assert "Erfaren." in body
    assert "Och engagerad." in body
    assert FORM_LINK in body
    assert "/nominera/bekrafta/" not in body


def test_a_refusal_never_repeats_the_personnummer(client, register):
    for identifier in (UNKNOWN_PNR, f"{UNKNOWN_PNR[2:8]}-{UNKNOWN_PNR[8:]}"):
        client.post(URL, data=form_data(nominee_identifier=identifier))
    sent = mails("anna@example.org")
    assert len(sent) == 2
    for subject, body in sent:
        digits = "".join(ch for ch in body if ch.isdigit())
        assert UNKNOWN_PNR[2:] not in digits, body  # not even with its separators removed
        assert UNKNOWN_PNR not in subject
        assert "Personnummer: (visas inte här)" in body
        assert FORM_LINK in body


def test_not_identified_and_other_krets_get_the_same_mail_word_for_word(client, register):
    """F7: the refusal must not tell whether the person typed is a member elsewhere."""
    with db.transaction() as s:
        add_member(s, "2001", "Sara", "Norr", "sara@example.org", "NORRMALM", NORR_PNR)
    db.session.close()
    typed = {"nominee_first_name": "Sara", "nominee_last_name": "Norr"}
    client.post(URL, data=form_data(nominee_identifier=NORR_PNR, **typed))  # Norrmalm member
    client.post(URL, data=form_data(nominee_identifier=UNKNOWN_PNR, **typed))  # nobody
    client.post(URL, data=form_data(nominee_identifier="9999", **typed))  # no such number
    (other_krets, nobody, no_number) = mails("anna@example.org")
    assert other_krets == nobody
    assert other_krets[0] == no_number[0]
    # The reason is the same; only the repeated entry differs (the number is shown).
    reason = "Det här fyllde du i:"
    assert no_number[1].split(reason)[0] == nobody[1].split(reason)[0]
    assert "Vi hittade ingen medlem i Södermalm med de uppgifter du angav." in _flat(nobody[1])
    for word in ("Norrmalm", "tillhör inte", "identifiera"):
        assert word not in other_krets[1], word
    assert rows(NominationSubmission) == []
    assert mails("sara@example.org") == []


def test_only_addresses_in_the_register_are_mailed(client, register):
    """F6: the form does not send the committee's mail to whatever address is typed."""
    client.post(URL, data=form_data(nominator_email="stranger@example.net"))
    client.post(
        URL,
        data=form_data(
            nominator_email="stranger@example.net",
            nominating_as="forening",
            forening_id=str(register.forening_id),
        ),
    )
    assert mails("stranger@example.net") == []
    # A förening's contact address is in the register: it is told why nothing was registered.
    client.post(URL, data=form_data(nominator_email="norr@example.org"))
    [(subject, body)] = mails("norr@example.org")
    assert "Ingen nominering registrerades" in subject
    assert "inte registrerad för någon medlem" in _flat(body)
    # So is a member who picked a förening whose contact they are not.
    client.post(
        URL, data=form_data(nominating_as="forening", forening_id=str(register.forening_id))
    )
    [(_subject, body)] = mails("anna@example.org")
    assert "kontaktadress för den förening du valde" in _flat(body)
    assert "Du nominerade: som kontaktperson för föreningen S-föreningen Söder" in body
    assert rows(NominationSubmission) == []


def test_mail_to_one_address_is_capped_per_day(app, client, register, clock):
    app.config["NOMINATION_MAILS_PER_ADDRESS_DAY"] = 3
    pages = set()
    for _ in range(5):
        response = client.post(URL, data=form_data())
        assert response.status_code == 200
        pages.add(_main(response.text))
    assert len(pages) == 1  # the page does not tell that the cap was reached
    assert len(mails("anna@example.org")) == 3
    # Nothing is stored that no mail can confirm.
    assert len(rows(NominationSubmission)) == 3
    # Refusals count too, and another address is not held back.
    client.post(URL, data=form_data(nominee_identifier="9999"))
    assert len(mails("anna@example.org")) == 3
    client.post(URL, data=form_data(nominator_email="eva@example.org"))
    assert len(mails("eva@example.org")) == 1
    # A day later the address may be mailed again.
    clock.set(DURING + timedelta(days=1, seconds=1))
    client.post(URL, data=form_data())
    assert len(mails("anna@example.org")) == 4


def test_the_default_cap_leaves_room_for_a_busy_nominator(client, register):
    for number in range(10):
        client.post(URL, data=form_data(nominee_identifier=f"99{number:02d}"))
    assert len(mails("anna@example.org")) == 10
    client.post(URL, data=form_data())
    assert len(mails("anna@example.org")) == 10
    assert rows(NominationSubmission) == []
    assert NOMINEE_PNR  # the register's own nominee is untouched by all this
