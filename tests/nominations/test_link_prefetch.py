"""Emailed links survive a mail scanner: a GET (or HEAD) only shows a button; the POST acts.

Mail security scanners (Safe Links, Proofpoint, ...) open every link in a mail before the
recipient does. Here a separate test client plays the scanner; CSRF protection is on, as in
production, so each POST carries the token of the page it came from.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.nominations.conftest import SLUG, form_data, link_in, mails, rows
from voting.crypto import token_hash
from voting.db import db
from voting.log.models import AuditEntry
from voting.nominations.models import (
    Nomination,
    NominationStatus,
    NominationSubmission,
    SubmissionStatus,
)
from voting.tokens import LinkToken

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """A test client whose every request runs in its own app context, as on a server.

    Why: the ``app`` fixture keeps one app context open, so requests would share ``g``, and
    Flask-WTF caches the CSRF token in ``g``: one browser would be handed another's token.
    """

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()

    def _run(self, method, *args, **kwargs):
        db.session.rollback()  # end the test's own read first (SQLite would lock the writer)
        with self.app.app_context():
            return getattr(self.client, method)(*args, **kwargs)

    def get(self, *args, **kwargs):
        return self._run("get", *args, **kwargs)

    def head(self, *args, **kwargs):
        return self._run("head", *args, **kwargs)

    def post(self, *args, **kwargs):
        return self._run("post", *args, **kwargs)


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def _token_row(link):
    db.session.rollback()  # read what the requests committed, not an older snapshot
    return db.session.scalar(
        select(LinkToken).where(LinkToken.token_hash == token_hash(link.rsplit("/", 1)[1]))
    )


def _prefetch(scanner, link, times=3):
    """What a scanner does: GET the link a few times, and HEAD it; each shows the button page."""
    for _ in range(times):
        page = scanner.get(link)
        assert page.status_code == 200
        assert f'action="{link}"' in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
    head = scanner.head(link)
    assert head.status_code == 200
    assert head.headers["Cache-Control"] == "no-store"


def _press(client, link):
    """Open the page in ``client`` and press its button: a POST with the page's CSRF token."""
    page = client.get(link)
    token = CSRF.search(page.text)
    assert token, page.text
    return client.post(link, data={"csrf_token": token[1]})


def _confirm_link(client):
    """Submit the questionnaire (Anna nominates Karl); return the confirmation link's path."""
    page = client.get(f"/val/{SLUG}/nominera")
    data = form_data(csrf_token=CSRF.search(page.text)[1])
    before = len(mails())
    assert client.post(f"/val/{SLUG}/nominera", data=data).status_code == 200
    return link_in(mails()[before][1])


def _nominee_link(client):
    """A confirmed nomination of Karl; return the nominee link mailed to him."""
    assert _press(client, _confirm_link(client)).status_code == 303
    [(_subject, body)] = mails("karl@example.org")
    return link_in(body, "kandidat")


def test_prefetching_a_confirmation_link_confirms_nothing(csrf_app, register):
    anna, scanner = Browser(csrf_app), Browser(csrf_app)
    link = _confirm_link(anna)
    _prefetch(scanner, link)
    _prefetch(anna, link, times=1)  # the nominator looking at the page, not pressing

    assert _token_row(link).used_at is None
    [submission] = rows(NominationSubmission)
    assert submission.status == SubmissionStatus.UNCONFIRMED
    assert rows(Nomination) == []
    assert rows(AuditEntry, AuditEntry.type == "nomination.confirmed") == []
    assert mails("karl@example.org") == []
    assert "Ingen bekräftelse att visa" in scanner.get("/nominera/bekraftad").text

    # The button works once, and the link still leaves the address bar.
    response = _press(anna, link)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/nominera/bekraftad")
    assert "Nomineringen är bekräftad" in anna.get("/nominera/bekraftad").text
    assert _token_row(link).used_at is not None
    [submission] = rows(NominationSubmission)
    assert submission.status == SubmissionStatus.CONFIRMED
    assert len(rows(Nomination)) == 1
    assert len(mails("karl@example.org")) == 1

    # A second press, in this browser or the scanner's, is told the nomination is confirmed.
    for client in (anna, scanner):
        again = _press(client, link)
        assert again.status_code == 200, again.text
        assert "Nomineringen är redan bekräftad" in again.text
        assert "redan använts" in again.text
    assert len(rows(AuditEntry, AuditEntry.type == "nomination.confirmed")) == 1


def test_prefetching_a_nominee_link_neither_uses_it_nor_signs_in(csrf_app, register):
    anna, karl, scanner = (Browser(csrf_app) for _ in range(3))
    link = _nominee_link(anna)
    _prefetch(scanner, link)

    assert _token_row(link).used_at is None
    assert scanner.get("/kandidat").status_code == 403
    assert len(mails("karl@example.org")) == 1  # no new link mailed either

    # The nominee gets in with the very link the scanner opened.
    response = _press(karl, link)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/kandidat")
    assert "Karl Johan Berg" in karl.get("/kandidat").text
    assert _token_row(link).used_at is not None

    # Pressing it again elsewhere gets the used-link page (and a fresh link by mail).
    again = _press(scanner, link)
    assert again.status_code == 410
    assert "Länken har redan använts" in again.text
    assert scanner.get("/kandidat").status_code == 403
    assert len(mails("karl@example.org")) == 2


def test_a_scanner_opening_each_new_link_first_does_not_lock_the_nominee_out(
    csrf_app, register, clock
):
    anna, karl, laptop, scanner = (Browser(csrf_app) for _ in range(4))
    link = _nominee_link(anna)
    assert _press(karl, link).status_code == 303
    # Karl opens the old link on his laptop: a new link is mailed, and the scanner sees it first.
    assert _press(laptop, link).status_code == 410
    fresh = link_in(mails("karl@example.org")[-1][1], "kandidat")
    _prefetch(scanner, fresh)
    _prefetch(scanner, link)  # the old one again: no further mail
    assert len(mails("karl@example.org")) == 2
    assert _token_row(fresh).used_at is None

    assert _press(laptop, fresh).status_code == 303
    assert "Karl Johan Berg" in laptop.get("/kandidat").text
    [nomination] = rows(Nomination)
    assert nomination.status == NominationStatus.AWAITING_NOMINEE


@pytest.mark.parametrize("kind", ["confirm", "nominee"])
@pytest.mark.parametrize("csrf_token", [None, "", "forged", "other-session"])
def test_a_post_without_a_valid_csrf_token_is_refused(csrf_app, register, kind, csrf_token):
    anna, visitor = Browser(csrf_app), Browser(csrf_app)
    link = _confirm_link(anna) if kind == "confirm" else _nominee_link(anna)
    visitor.get(link)  # the visitor has a session and a token of its own
    if csrf_token == "other-session":
        csrf_token = CSRF.search(Browser(csrf_app).get(link).text)[1]
    data = {} if csrf_token is None else {"csrf_token": csrf_token}
    response = visitor.post(link, data=data)
    assert response.status_code == 400
    assert _token_row(link).used_at is None
    assert visitor.get("/kandidat").status_code == 403
    if kind == "confirm":
        [submission] = rows(NominationSubmission)
        assert submission.status == SubmissionStatus.UNCONFIRMED
    # With the page's own token the same link then works.
    assert _press(visitor, link).status_code == 303


def test_the_page_is_the_same_for_any_token(csrf_app, register):
    """The GET reads nothing: an unknown token gets the same page, so it tells nobody anything."""
    client = Browser(csrf_app)
    link = _confirm_link(client)
    unknown = "/nominera/bekrafta/" + "A" * 43

    def page(path):
        # The CSRF token carries a timestamp; it may differ between two renderings.
        return CSRF.sub("TOKEN", client.get(path).text.replace(path, "LINK"))

    assert page(link) == page(unknown)
    assert _press(client, unknown).status_code == 404
    assert _token_row(link).used_at is None
