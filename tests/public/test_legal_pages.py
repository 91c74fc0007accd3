"""The accessibility statement, the privacy notice, and the footer with the committee's contact
details from the settings on every page (issue 14, item 10)."""

from __future__ import annotations

import re

import pytest

from voting.config import ConfigError
from voting.public.legal_views import retention_months

CONTACT = {
    "COMMITTEE_CONTACT_NAME": "Valberedningen i Distrikt Exempel",
    "COMMITTEE_CONTACT_EMAIL": "valberedning@example.org",
    "COMMITTEE_CONTACT_PHONE": "08-123 45 67",
}


def _footer(html: str) -> str:
    match = re.search(r"<footer class=\"site\">(.*?)</footer>", html, re.S)
    assert match, "no site footer"
    return match.group(1)


@pytest.mark.parametrize(
    "path", ["/", "/tillganglighet", "/personuppgifter", "/val/finns-inte/resultat"]
)
def test_every_page_has_a_footer_with_the_contact_and_both_links(app, client, path):
    app.config.update(CONTACT)
    html = client.get(path).get_data(as_text=True)
    footer = _footer(html)
    assert "Valberedningen i Distrikt Exempel" in footer
    assert '<a href="mailto:valberedning@example.org">valberedning@example.org</a>' in footer
    assert '<a href="tel:081234567">08-123 45 67</a>' in footer
    assert 'href="/tillganglighet"' in footer
    assert 'href="/personuppgifter"' in footer


def test_an_unset_contact_says_so_and_the_demo_names_the_setting(app, client):
    footer = _footer(client.get("/").get_data(as_text=True))
    assert "mailto:" not in footer
    assert footer.count("inte angiven") == 2  # email and phone
    assert "COMMITTEE_CONTACT_EMAIL" not in footer  # a member is not shown setting names
    app.config["DEMO"] = True
    footer = _footer(client.get("/").get_data(as_text=True))
    assert "inställningen COMMITTEE_CONTACT_EMAIL" in footer
    assert "inställningen COMMITTEE_CONTACT_PHONE" in footer


def test_the_contact_is_escaped(app, client):
    app.config["COMMITTEE_CONTACT_NAME"] = "<script>x</script>"
    html = client.get("/tillganglighet").get_data(as_text=True)
    assert "<script>x" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_the_accessibility_statement_follows_digg_model(app, client):
    app.config.update(CONTACT)
    response = client.get("/tillganglighet")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    headings = re.findall(r"<h[23] id=\"([a-z-]+)\"", html)
    # DIGG's model, in its order: scope, compliance, what to do, report, supervision, the
    # technical part with the shortcomings, how it was tested.
    assert headings == [
        "applies",
        "how-accessible",
        "what-to-do",
        "report",
        "supervision",
        "technical",
        "shortcomings",
        "testing",
    ]
    assert "Myndigheten för digital förvaltning (DIGG)" in html
    assert 'href="https://www.digg.se/tdosanmalan"' in html
    assert "delvis förenlig" in html
    assert "axe-core" in html
    assert re.search(r"Redogörelsen uppdaterades senast den \d{4}-\d{2}-\d{2}", html)
    assert "mailto:valberedning@example.org" in html.split("<footer")[0]


def test_the_privacy_notice_names_what_why_basis_how_long_rights(app, client):
    app.config.update(CONTACT, PRIVACY_CONTROLLER="Partiet i Distrikt Exempel")
    app.config["PRIVACY_RETENTION_MONTHS"] = 6
    response = client.get("/personuppgifter")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for words in (
        "medlemsnummer, namn, e-postadress",
        "personnummer",
        "krets",
        "att du har röstat",
        "väljarkod",
        "artikel 9.2 d",
        "raderas 6 månader efter",
        "registerutdrag",
        "Integritetsskyddsmyndigheten",
        "Personuppgiftsansvarig:",
        "Partiet i Distrikt Exempel",
        "IP-adress",
    ):
        assert words in html, words
    assert "mailto:valberedning@example.org" in html.split("<footer")[0]


def test_the_privacy_notice_without_controller_or_retention_says_not_set(app, client):
    app.config["PRIVACY_RETENTION_MONTHS"] = None
    html = client.get("/personuppgifter").get_data(as_text=True)
    main = html.split("<footer")[0]
    assert main.count("inte angiven") >= 2
    assert "raderas" not in main.split('id="how-long"')[1].split("</p>")[0].split(".")[0]


@pytest.mark.parametrize("value", [0, -1, "12", 1.5, True])
def test_a_bad_retention_setting_is_refused_by_name(value):
    with pytest.raises(ConfigError, match="PRIVACY_RETENTION_MONTHS"):
        retention_months(value)


def test_the_pages_in_english(app, client):
    client.get("/?lang=en")
    html = client.get("/tillganglighet").get_data(as_text=True)
    assert '<html lang="en">' in html
    # English after the lead merges /tmp/tr/pages.json into the catalogue.
    assert "Accessibility statement" in html
    html = client.get("/personuppgifter").get_data(as_text=True)
    assert "How we process personal data" in html


def test_the_email_change_notice_gives_the_committee_contact(app, clock):
    from sqlalchemy import select

    from tests.factories import make_member
    from voting.db import db
    from voting.mail.addresses import change_email
    from voting.mail.models import OutboxMessage
    from voting.mail.services import message_body
    from voting.members.models import Krets

    app.config.update(CONTACT)
    with db.transaction() as s:
        s.add(Krets(code="SODERMALM", name="Södermalm"))
        s.flush()
        member = make_member(s, "SODERMALM", "Anna", "Berg", clock(), email="old@example.org")
        change_email(s, member, "new@example.org", clock())
    bodies = [message_body(m) or "" for m in db.session.scalars(select(OutboxMessage))]
    assert len(bodies) == 2  # to the old address and the new
    for body in bodies:
        assert "Kontakta valberedningen genast (valberedning@example.org, 08-123 45 67):" in body
        assert "at once (valberedning@example.org, 08-123 45 67)." in body


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (CONTACT, "Valberedningen nås på"),
        ({}, "Valberedningens kontaktuppgifter finns längst ner på sidan."),
    ],
)
def test_an_eid_refusal_says_how_to_reach_the_committee(app, settings, expected):
    from flask import render_template

    app.config.update(settings)
    with app.test_request_context("/"):
        html = render_template(
            "eid/refused.html", title="Nej", text="Kontakta valberedningen.", code="x", back=None
        )
    main = html.split("<footer")[0]
    assert expected in main
    assert ("mailto:valberedning@example.org" in main) == bool(settings)


def test_the_check_guide_reports_to_the_committee_contact_address(app, client, clock):
    from tests.factories import make_election
    from voting.db import db

    app.config.update(CONTACT)
    with db.transaction() as s:
        make_election(s, clock(), slug="val-kontakt")
    html = client.get("/val/val-kontakt/kontrollera/hjalp").get_data(as_text=True)
    main = html.split("<footer")[0]
    assert '<a href="mailto:valberedning@example.org">' in main
    app.config["CONTACT_COMMITTEE"] = "anmalan@example.org"  # its own setting still wins
    html = client.get("/val/val-kontakt/kontrollera/hjalp").get_data(as_text=True)
    assert "mailto:anmalan@example.org" in html.split("<footer")[0]
