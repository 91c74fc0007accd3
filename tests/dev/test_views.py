"""The demo-only pages: the mail sink viewer and the demo staff's TOTP codes."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from voting.admin.services import totp_secret
from voting.dev.demo import load_demo
from voting.dev.views import body_parts
from voting.mail.delivery import deliver_due
from voting.mail.services import queue_mail
from voting.mail.transports import sink_dir
from voting.staff.models import User

LINK = "http://localhost/nominera/bekrafta/AbC-123_xyz"
BODY = (
    "Hej Åsa!\n\nBekräfta här: " + LINK + ".\n"
    "Inte en länk: javascript:alert(1) och <script>alert(2)</script>\n"
)


def _deliver_to_sink(application, clock, subject="Bekräfta din nominering", to="asa@example.org"):
    session = application.extensions["db"]["sessionmaker"]()
    try:
        queue_mail(session, to=to, subject=subject, body=BODY, kind="t", now=clock())
        session.commit()
    finally:
        session.close()
    report = deliver_due(application.extensions["db"]["sessionmaker"], application.config, clock)
    assert report.sent == 1


@pytest.mark.parametrize(
    "path", ["/dev/", "/dev/mail", "/dev/totp", "/dev/mail/20260101T000000000000Z-000001.eml"]
)
def test_dev_pages_do_not_exist_outside_the_demo(app, client, path):
    assert not app.config["DEMO"]
    assert client.get(path).status_code == 404


def test_mail_sink_lists_and_shows_mail(demo_app, clock):
    _deliver_to_sink(demo_app, clock)
    client = demo_app.test_client()

    listing = client.get("/dev/mail")

    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert "asa@example.org" in html
    assert "Bekräfta din nominering" in html
    name = next(sink_dir(demo_app.config).glob("*.eml")).name
    assert f"/dev/mail/{name}" in html

    page = client.get(f"/dev/mail/{name}")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<a href="{LINK}">{LINK}</a>.' in html  # the trailing full stop is not in the link
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert 'href="javascript:' not in html
    assert "Hej Åsa!" in html


def test_mail_list_is_newest_first(demo_app, clock):
    from datetime import timedelta

    _deliver_to_sink(demo_app, clock, subject="Första")
    clock.set(clock() + timedelta(minutes=1))
    _deliver_to_sink(demo_app, clock, subject="Andra")

    html = demo_app.test_client().get("/dev/mail").get_data(as_text=True)

    assert html.index("Andra") < html.index("Första")


@pytest.mark.parametrize(
    "name", ["..%2F..%2Fconfig.py", "config.py", "20260101T000000000000Z-000001.eml", "x.eml"]
)
def test_mail_show_refuses_other_files(demo_app, name):
    assert demo_app.test_client().get(f"/dev/mail/{name}").status_code == 404


def test_empty_sink(demo_app):
    response = demo_app.test_client().get("/dev/mail")
    assert response.status_code == 200
    assert "Ingen e-post har skickats ännu." in response.get_data(as_text=True)


def test_totp_page_shows_the_demo_accounts_current_codes(demo_app, clock):
    session = demo_app.extensions["db"]["sessionmaker"]()
    try:
        load_demo(session, clock(), members=10)
        session.commit()
        users = session.scalars(select(User).order_by(User.email)).all()
        codes = {u.email: pyotp.TOTP(totp_secret(u)).at(clock()) for u in users}
    finally:
        session.close()

    html = demo_app.test_client().get("/dev/totp").get_data(as_text=True)

    assert set(codes) == {"admin@example.org", "valberedning@example.org"}
    for email, code in codes.items():
        assert email in html
        assert code in html


def test_body_parts_links_only_http_urls():
    parts = body_parts("Se https://example.org/a?b=1, sedan ftp://x och javascript:alert(1).")
    assert parts == [
        ("Se ", False),
        ("https://example.org/a?b=1", True),
        (", sedan ftp://x och javascript:alert(1).", False),
    ]
    assert body_parts("") == []
