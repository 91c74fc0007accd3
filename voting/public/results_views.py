"""The published results: a page per krets, JSON, CSV and the protocol PDF (public)."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, render_template
from werkzeug.wrappers import Response

from voting import clock
from voting.db import db
from voting.elections.errors import ElectionNotFound
from voting.elections.models import Election
from voting.elections.services import get_election
from voting.lifecycle import results
from voting.lifecycle.tally import stored_result
from voting.public.views import bp


def _published(slug: str) -> tuple[Election, dict[str, Any]] | None:
    """The election and its result, or None unless the results are published."""
    try:
        election = get_election(db.session, slug)
    except ElectionNotFound:
        return None
    # Why 404 before publication: the count is not public until the committee publishes it.
    if results.publication(db.session, election) is None:
        return None
    result = stored_result(db.session, election)
    return None if result is None else (election, result)


def _published_or_404(slug: str) -> tuple[Election, dict[str, Any]]:
    found = _published(slug)
    if found is None:
        abort(404)
    return found


# Swedish alphabetical order: å, ä, ö come after z, in that order (code points put ä first).
# "{", "|" and "}" are the three characters that follow "z" in ASCII.
_SWEDISH_ORDER = str.maketrans({"å": "{", "ä": "|", "ö": "}"})


def swedish_sort_key(name: str) -> str:
    """A key that sorts names as a Swedish reader expects."""
    return name.casefold().translate(_SWEDISH_ORDER)


@bp.route("/val/<slug>/resultat", methods=["GET"])
def results_page(slug: str) -> str:
    """The published results, per krets in alphabetical order, with jump links to each."""
    election, result = _published_or_404(slug)
    kretsar = sorted(
        results.view_model(db.session, election, result),
        key=lambda k: swedish_sort_key(k["krets_name"]),
    )
    return render_template(
        "public/results.html",
        election=election,
        result=result,
        kretsar=kretsar,
        publication=results.publication(db.session, election),
        fingerprint=results.log_key_fingerprint(db.session, election),
        results_hash=results.logged_results_hash(db.session, election),
    )


@bp.route("/api/v1/elections/<slug>/results", methods=["GET"])
def results_api(slug: str) -> Response | tuple[Response, int]:
    """The stored result with the candidates' names, once published."""
    found = _published(slug)
    if found is None:
        return jsonify(error="not_found", message="No published results for that election."), 404
    election, result = found
    return jsonify(result=result, candidates=results.candidate_names(db.session, election))


@bp.route("/val/<slug>/resultat.csv", methods=["GET"])
def results_csv(slug: str) -> Response:
    """The published results as CSV, one row per candidate."""
    election, result = _published_or_404(slug)
    return Response(
        results.results_csv(db.session, election, result),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{election.slug}-resultat.csv"',
        },
        content_type="text/csv; charset=utf-8",
    )


@bp.route("/val/<slug>/protokoll.pdf", methods=["GET"])
def protocol(slug: str) -> Response:
    """The counting protocol as PDF, for the committee to sign on paper."""
    election, result = _published_or_404(slug)
    body = results.protocol_pdf(db.session, election, result, clock.now())
    return Response(
        body,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{election.slug}-protokoll.pdf"'},
    )
