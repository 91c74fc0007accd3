"""Every protected URL against every role: anonymous, auditor, committee, admin."""

from __future__ import annotations

import pytest

ROLES = ("anonymous", "auditor", "committee", "admin")

# (method, url template, lowest role allowed, status for an allowed role)
ROUTES = [
    ("GET", "/admin/", "auditor", 200),
    ("GET", "/admin/val/{slug}/", "auditor", 200),
    ("GET", "/admin/val/{slug}/kandidater", "committee", 200),  # auditors: once published
    ("GET", "/admin/val/{slug}/nomineringar", "committee", 200),
    ("GET", "/admin/val/{slug}/publicera", "committee", 200),
    ("POST", "/admin/val/{slug}/publicera", "committee", 400),  # the box is not ticked
    ("GET", "/admin/val/{slug}/schema", "committee", 200),
    ("POST", "/admin/val/{slug}/schema", "committee", 400),  # empty form
    ("GET", "/admin/nytt-val", "committee", 200),
    ("POST", "/admin/nytt-val", "committee", 400),  # no file
    ("POST", "/admin/nomineringar/{approve}/godkann", "committee", 302),
    ("GET", "/admin/nomineringar/{reject}/avsla", "committee", 200),
    ("POST", "/admin/nomineringar/{reject}/avsla", "committee", 400),  # no reason
]
RANK = {"anonymous": 0, "auditor": 1, "committee": 2, "admin": 3}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "template", "lowest", "ok"), ROUTES)
def test_access(client, seed, login_as, role, method, template, lowest, ok):
    url = template.format(slug=seed.slug, approve=seed.awaiting, reject=seed.awaiting)
    if role != "anonymous":
        login_as(role)
    response = client.open(url, method=method)
    if role == "anonymous":
        assert response.status_code == 302
        assert response.location.startswith("/admin/login?next=")
    elif RANK[role] < RANK[lowest]:
        assert response.status_code == 403
    else:
        assert response.status_code == ok, response.get_data(as_text=True)[:2000]


@pytest.mark.parametrize("role", ["anonymous", "auditor"])
def test_json_clients_get_403_not_a_redirect(client, seed, login_as, role):
    if role != "anonymous":
        login_as(role)
    response = client.get(
        f"/admin/val/{seed.slug}/nomineringar", headers={"Accept": "application/json"}
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


def test_auditor_sees_no_member_data(client, seed, login_as):
    login_as("auditor")
    for url in ("/admin/", f"/admin/val/{seed.slug}/", f"/admin/val/{seed.slug}/kandidater"):
        page = client.get(url).get_data(as_text=True)
        assert seed.nominee_email not in page
        assert "Medlemsnummer" not in page
        assert "/nomineringar" not in page  # no links to what they may not open
        assert "godkann" not in page
