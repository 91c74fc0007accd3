"""The voter's pages (opening the emailed link, the ballot page) and the voting API."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from voting import clock
from voting.ballot import codes, services
from voting.ballot.errors import EidRequired, NotOnRoll, Unauthenticated
from voting.ballot.links import authenticate
from voting.ballot.voter import (
    VOTER_KEY,
    Pending,
    Voter,
    bearer_voter,
    link_problem,
    session_link,
    session_voter,
    start_voter_session,
)
from voting.crypto import keyed_hash
from voting.db import db
from voting.elections.errors import ElectionNotFound
from voting.elections.models import Contest, Election
from voting.elections.services import get_election
from voting.errors import VotingError
from voting.extensions import csrf, limiter
from voting.nominations.presentations import nomination_links

bp = Blueprint("ballot", __name__)
api = Blueprint("api", __name__, url_prefix="/api/v1")
# Why exempt: the API authenticates by bearer token or not at all (casting is anonymous);
# where the voter's cookie session is used instead, `_voter()` checks the CSRF header itself.
csrf.exempt(api)

__all__ = ["VOTER_KEY", "api", "bp"]

# How long after the close a browser keeps the receipt it stored. Why a limit: a shared or
# borrowed device must not show the receipt (and so, after the close, the vote) to the next
# user for ever; two weeks leave time to check the board and the results (SECURITY.md, F13).
RECEIPT_KEEP = timedelta(days=14)


@bp.route("/rosta/<token>", methods=["GET"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LINKS"])
def open_link(token: str) -> Response | tuple[str, int]:
    """Exchange the emailed token for a session, then drop the token from the address bar."""
    now = clock.now()
    try:
        link = authenticate(db.session, token, now)
    except Unauthenticated:
        problem, election = link_problem(db.session, token, now)
        return render_template("ballot/link_invalid.html", problem=problem, election=election), 403
    start_voter_session(session)  # nothing from before carries over
    session[VOTER_KEY] = link.id
    return redirect(url_for("ballot.ballot_page"))


@bp.route("/rosta", methods=["GET"])
def ballot_page() -> Response | str | tuple[str, int]:
    now = clock.now()
    voter = session_voter(db.session, session, now)
    if isinstance(voter, Pending):
        # link+eid: the link is opened; eID must now identify the same member.
        return render_template(
            "eid/vote.html",
            election=voter.election,
            via_link=True,
            voting_open=voter.election.voting_open(now),
            configured=current_app.extensions["eid"]["settings"] is not None,
        ), 200
    if voter is None:
        link = session_link(db.session, session)
        if link is not None:  # a link of an election whose voters sign in with eID alone
            election = db.session.get_one(Election, link.election_id)
            return redirect(url_for("eid.vote_page", slug=election.slug))
        return render_template("ballot/link_invalid.html", problem="no_session"), 403
    election = db.session.get_one(Election, voter.election_id)
    try:
        contest_id = services.member_contest(db.session, election, voter.member_id)
    except NotOnRoll:
        return render_template(
            "ballot/link_invalid.html", problem="not_on_roll", election=election
        ), 403
    contest = db.session.get_one(Contest, contest_id)
    if not services.contest_holds_vote(db.session, contest):
        return render_template("ballot/no_vote.html", election=election, contest=contest), 200
    candidates = [
        {
            "id": str(n.id),
            "first_name": n.member.first_name,
            "last_name": n.member.last_name,
            "presentation": n.presentation,
            "links": nomination_links(n),
            "photo_url": url_for("nominations.photo", nomination_id=n.id) if n.photo else None,
        }
        for n in services.published_candidates(db.session, contest)
    ]
    return render_template(
        "ballot/ballot.html",
        election=election,
        contest=contest,
        rule=contest.rule(len(candidates)),
        candidates=candidates,
        issued_on=services.signature_issued_on(db.session, contest.id, voter.member_id),
        # Why: household members may share a browser; each member's saved vote and receipt
        # live under their own key. A keyed hash with its own purpose, so that it matches
        # nothing in the audit log or anywhere else.
        storage_id=keyed_hash(f"{election.slug}:{voter.member_id}", "ballot-storage")[:24],
        voting_open=election.voting_open(now),
        now=now,
        receipt_forget_after=election.voting_closes + RECEIPT_KEEP,
        manifest_url=url_for("api.manifest", slug=election.slug),
        sign_url=url_for("api.blind_sign", contest_id=contest.id),
        cast_url=url_for("api.cast", contest_id=contest.id),
        board_url=url_for("public.board", slug=election.slug),  # the page, not the JSON
        voter_code=codes.member_code(db.session, election, voter.member_id),
        check_url=url_for("public.check_page", slug=election.slug),
    )


# --- API ----------------------------------------------------------------------------------


@api.errorhandler(VotingError)
def _voting_error(exc: VotingError) -> tuple[Response, int]:
    return jsonify(error=exc.code, message=exc.message), exc.status


@api.errorhandler(ElectionNotFound)
def _not_found(exc: ElectionNotFound) -> tuple[Response, int]:
    return jsonify(error="unknown_election", message=str(exc)), 404


# A ballot body is about 1 KB with 3072-bit keys; this leaves room for hundreds of candidates.
API_MAX_BODY = 64 * 1024


@api.before_request
def _small_bodies() -> None:
    # Why: the app-wide limit is sized for a photo upload (3 MB); the anonymous cast endpoint
    # has no business reading that much from anyone.
    request.max_content_length = API_MAX_BODY


@api.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
    return jsonify(error="too_large", message=f"the body is over {API_MAX_BODY} bytes"), 413


def _json_body() -> Any:
    try:
        body = request.get_json(silent=True)
    except RecursionError as exc:  # "[[[[…" deeper than the JSON decoder goes
        raise VotingError("the body is nested too deeply to be a ballot", code="bad_body") from exc
    if body is None:
        raise VotingError("the body must be JSON (Content-Type: application/json)", code="bad_body")
    return body


def _voter() -> Voter:
    """The voter, by bearer token or by the cookie session plus its CSRF header."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return bearer_voter(db.session, header.removeprefix("Bearer ").strip(), clock.now())
    voter = session_voter(db.session, session, clock.now())
    if isinstance(voter, Pending):
        raise EidRequired("sign in with Swedish eID first; the link alone is not enough here")
    if voter is None:
        raise Unauthenticated("open your emailed voting link first, or send it as a bearer token")
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except (ValidationError, CSRFError) as exc:
        raise VotingError(f"CSRF check failed: {exc}", code="csrf") from exc
    return voter


@api.route("/elections/<slug>/manifest", methods=["GET"])
def manifest(slug: str) -> Response:
    election = get_election(db.session, slug)
    return jsonify(services.manifest(db.session, election))


@api.route("/elections/<slug>/board", methods=["GET"])
def board(slug: str) -> Response:
    election = get_election(db.session, slug)
    return jsonify(services.board(db.session, election, clock.now()))


@api.route("/voter", methods=["GET"])
def voter() -> Response:
    """Who the bearer is, in terms a client needs: election, contest, signature issued."""
    voter = _voter()
    election = db.session.get_one(Election, voter.election_id)
    contest_id = services.member_contest(db.session, election, voter.member_id)
    issued = services.signature_issued_on(db.session, contest_id, voter.member_id)  # a date
    return jsonify(
        election=election.slug,
        contest=str(contest_id),
        signature_issued_at=issued.isoformat() if issued else None,
    )


def _sign_limit() -> str:
    return str(current_app.config["RATELIMIT_BLIND_SIGN"])


def _sign_limit_key() -> str:
    """The voter link asking for a signature, as a keyed hash with its own purpose.

    Why per link, not per address: the project records no voter's address, and one link is what
    a retry loop holds. Why hashed: the limiter's storage (perhaps a shared Redis) must hold
    neither the bearer token nor a link id that matches anything in the database or the log.
    Bearer and cookie session resolve to the same link, so they share one budget.
    Why no database query here: Flask-Limiter takes any error in a key function for a failure of
    its own storage and goes on counting in this process's memory, so `_voter_first` has found
    the link already (SECURITY.md, "Hardening").
    """
    who = g.get("signing_voter") or "no-link"
    return "blind-sign:" + keyed_hash(who, "blind-sign-rate-limit")[:32]


def _voter_first(view: Callable[..., Response]) -> Callable[..., Response]:
    """Authenticate the voter before the rate limit inside ``view``, and pass the voter on."""

    @functools.wraps(view)
    def authenticated(**kwargs: Any) -> Response:
        voter = _voter()
        g.signing_voter = voter.limit_key
        return view(voter=voter, **kwargs)

    return authenticated


@api.route("/contests/<contest_id>/blind-sign", methods=["POST"])
# Why limited: each request is a 3072-bit private-key operation (a retry included), so a link
# holder must not be able to load the CPU with it. Retries of a normal vote stay far below the
# limit. A request that names no live link is refused before the limit, and is never signed.
@_voter_first
@limiter.limit(_sign_limit, key_func=_sign_limit_key)
def blind_sign(contest_id: str, voter: Voter) -> Response:
    body = _json_body()
    with db.transaction() as s:
        blind_sig = services.blind_sign(
            s, voter.member_id, voter.election_id, contest_id, body, clock.now()
        )
    return jsonify(blind_sig=blind_sig)


@api.route("/contests/<contest_id>/ballots", methods=["POST"])
@limiter.exempt  # Why: a per-IP limit would store the caster's IP; casting needs no identity.
def cast(contest_id: str) -> tuple[Response, int]:
    body = _json_body()
    with db.transaction() as s:
        receipt, created = services.cast(s, contest_id, body, clock.now())
    return jsonify(receipt=receipt), 201 if created else 200
