"""Who took part, checked by each member: the published lists of voter codes, the check page
whose script looks a code up in the browser, and the member's guide (public)."""

from __future__ import annotations

from email.utils import parseaddr

from flask import current_app, jsonify, render_template, url_for
from werkzeug.wrappers import Response

from voting.ballot.codes import published_lists
from voting.db import db
from voting.elections.errors import ElectionNotFound
from voting.elections.services import get_election
from voting.public.views import bp
from voting.web import election_or_404

# The lists do not change after the seal; a cache may keep them a while.
LISTS_MAX_AGE = 300


def _contacts() -> dict[str, str | None]:
    """Where to report a misused code: the committee's address and the auditors', if known."""
    committee = current_app.config.get("CONTACT_COMMITTEE") or current_app.config.get(
        "COMMITTEE_CONTACT_EMAIL"
    )
    if not committee:
        committee = parseaddr(str(current_app.config.get("MAIL_FROM") or ""))[1] or None
    return {"committee": committee, "auditors": current_app.config.get("CONTACT_AUDITORS")}


@bp.route("/api/v1/elections/<slug>/voter-codes", methods=["GET"])
def voter_codes_api(slug: str) -> Response | tuple[Response, int]:
    """Per contest, the sorted codes of the roll and those issued a signature, after the seal."""
    try:
        election = get_election(db.session, slug)
    except ElectionNotFound as exc:
        return jsonify(error="not_found", message=str(exc)), 404
    lists = published_lists(db.session, election)
    if lists is None:
        return jsonify(
            error="not_found",
            message="the voter codes are published once voting has closed and the board is sealed",
        ), 404
    response = jsonify(lists)
    response.headers["Cache-Control"] = f"public, max-age={LISTS_MAX_AGE}"
    return response


@bp.route("/val/<slug>/kontrollera", methods=["GET"])
def check_page(slug: str) -> str:
    """The member types their voter code; the script looks it up in the published lists.

    Why in the browser: the code never reaches the server (no query, no form post), so the
    server learns nothing about who checked which code. The input has no name, so even a form
    submitted without the script sends no code.
    """
    election = election_or_404(slug)
    return render_template(
        "public/check.html",
        election=election,
        published=published_lists(db.session, election) is not None,
        codes_url=url_for("public.voter_codes_api", slug=election.slug),
        kretsar={c.krets_code: c.krets.name for c in election.contests},
        contacts=_contacts(),
    )


@bp.route("/val/<slug>/kontrollera/hjalp", methods=["GET"])
def check_guide(slug: str) -> str:
    """The member's guide: what the voter code is, how to check it, what to do if it is wrong."""
    election = election_or_404(slug)
    return render_template("public/check_guide.html", election=election, contacts=_contacts())
