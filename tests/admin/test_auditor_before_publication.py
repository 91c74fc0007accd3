"""The auditor sees candidate names only once the lists are published (before: counts only)."""

from __future__ import annotations

from sqlalchemy import select

from voting.db import db
from voting.elections.models import Election

APPROVED = "Bo Berg"  # the seed's approved nominee (BROMMA)


def _publish(slug: str, clock) -> None:
    with db.transaction() as s:
        election = s.scalar(select(Election).where(Election.slug == slug))
        election.candidates_published_at = clock()


def _candidates(client, slug: str, **headers: str):
    return client.get(f"/admin/val/{slug}/kandidater", headers=headers)


def test_auditor_gets_no_names_before_publication(client, seed, login_as):
    login_as("auditor")
    page = _candidates(client, seed.slug)
    assert page.status_code == 403
    assert APPROVED not in page.get_data(as_text=True)
    as_json = _candidates(client, seed.slug, Accept="application/json")
    assert as_json.status_code == 403
    assert APPROVED not in as_json.get_data(as_text=True)
    # The counts stay theirs: the election's overview shows one approved nomination in Bromma.
    overview = client.get(f"/admin/val/{seed.slug}/")
    assert overview.status_code == 200
    assert APPROVED not in overview.get_data(as_text=True)
    # …and no link that would only lead to the refusal.
    link = f'href="/admin/val/{seed.slug}/kandidater"'
    assert link not in overview.get_data(as_text=True)
    assert link not in client.get("/admin/").get_data(as_text=True)


def test_auditor_sees_the_names_once_published(client, seed, login_as, clock):
    login_as("auditor")
    _publish(seed.slug, clock)
    page = _candidates(client, seed.slug)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert APPROVED in text
    assert f'href="/admin/val/{seed.slug}/kandidater"' in client.get("/admin/").get_data(
        as_text=True
    )
    assert seed.nominee_email not in text


def test_the_committee_sees_the_names_before_publication(client, seed, login_as):
    login_as("committee")
    page = _candidates(client, seed.slug)
    assert page.status_code == 200
    assert APPROVED in page.get_data(as_text=True)
