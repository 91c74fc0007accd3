"""The eID sign-in pages: the election's voting page, starting a sign-in, and the callback.

One place maps each refusal and failure code to its page in Swedish or English; the log gets
the code alone (and a failure's exception class), never a personnummer, claim or token.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from voting import clock
from voting.admin.services import start_session
from voting.ballot.voter import VOTER_KEY, remember_eid, session_link, start_voter_session
from voting.db import db
from voting.eid import oidc, services
from voting.eid.errors import EidError, NotConfigured, Refused, SignInFailed
from voting.elections.models import SIGN_IN_EID, SIGN_IN_LINK_EID, Election
from voting.extensions import limiter
from voting.web import View, election_or_404

bp = Blueprint("eid", __name__)
log = logging.getLogger(__name__)


def _messages(code: str, election: Election | None) -> tuple[str, str]:
    """The page's title and text for a refusal or failure ``code``."""
    if code == "no_match":
        return _("Du finns inte i medlemsregistret"), _(
            "Personnumret i din e-legitimation finns inte i distriktets medlemsregister. "
            "Kontakta valberedningen om du är medlem."
        )
    if code == "not_on_roll":
        return _("Du finns inte i röstlängden"), _(
            "Du finns inte i röstlängden för det här valet. Kontakta valberedningen om du tror "
            "att det är fel."
        )
    if code == "no_vote":
        return _("Ingen omröstning i din krets"), _(
            "Det finns inte fler kandidater än platser i din krets, så det hålls ingen "
            "omröstning där. Kandidaterna väljs utan omröstning, och platser som ingen fyller "
            "står tomma. Du behöver inte göra något."
        )
    if code == "window_closed":
        text = _("Du kan bara logga in för att rösta medan röstningen pågår.")
        if election is not None:
            fmt = "%Y-%m-%d %H:%M"
            text += " " + _(
                "Röstningen är öppen från %(opens)s till och med %(closes)s (%(tz)s).",
                opens=election.local(election.voting_opens).strftime(fmt),
                closes=election.local(election.voting_closes).strftime(fmt),
                tz=election.timezone,
            )
        return _("Röstningen är inte öppen"), text
    if code == "mismatch":
        return _("E-legitimationen hör inte till röstlänken"), _(
            "Du loggade in med en annan persons e-legitimation än den medlem som röstlänken "
            "skickades till. Varje medlem röstar med sin egen länk och sin egen e-legitimation."
        )
    if code == "staff_unknown":
        return _("Inget konto för den här e-legitimationen"), _(
            "Ingen aktiv användare hos valberedningen är kopplad till den här e-legitimationen. "
            "Be en administratör att koppla den till ditt konto."
        )
    if code == "cancelled":
        return _("Inloggningen avbröts"), _(
            "Du avbröt inloggningen med e-legitimation. Du kan försöka igen."
        )
    if code == "not_configured":
        return _("E-legitimation är inte tillgänglig"), _(
            "Inloggning med e-legitimation är inte inställd för den här tjänsten. Kontakta "
            "valberedningen."
        )
    return _("Inloggningen misslyckades"), _(
        "Inloggningen med e-legitimation kunde inte slutföras. Börja om och försök igen."
    )


def _refusal(exc: EidError, election: Election | None, back: str | None) -> tuple[str, int]:
    if isinstance(exc, Refused):
        status = 403
        log.info("eid sign-in refused: %s", exc.code)
    elif isinstance(exc, NotConfigured):
        status = 503
        log.warning("eid sign-in asked for, but no provider is configured")
    else:
        status = 400
        # The step and the exception's class only: a provider's message may quote a claim.
        log.warning("eid sign-in failed: %s (%s)", exc.code, exc.detail or "-")
    title, text = _messages(exc.code or "eid_error", election)
    page = render_template(
        "eid/refused.html", title=title, text=text, code=exc.code, back=back, election=election
    )
    return page, status


# --- Voters -----------------------------------------------------------------------------------


@bp.route("/val/<slug>/rosta", methods=["GET"])
def vote_page(slug: str) -> View:
    """The election's voting page: how its members sign in, and the eID button where used."""
    election = election_or_404(slug)
    return render_template(
        "eid/vote.html",
        election=election,
        via_link=False,
        voting_open=election.voting_open(clock.now()),
        configured=oidc.configured(),
    )


@bp.route("/val/<slug>/rosta/e-legitimation", methods=["POST"])
# Why limited: each start asks the provider for a sign-in; nobody needs more than a few a minute.
@limiter.limit(lambda: current_app.config["RATELIMIT_LINKS"])
def vote_start(slug: str) -> View:
    """Begin an eID sign-in for voting (CSRF-checked POST, so no page can start one for you)."""
    election = election_or_404(slug)
    back = url_for("eid.vote_page", slug=slug)
    try:
        if election.sign_in not in (SIGN_IN_EID, SIGN_IN_LINK_EID):
            raise SignInFailed("flow", "this election does not use eID")
        if election.sign_in == SIGN_IN_LINK_EID:
            link = session_link(db.session, session)
            if link is None or link.election_id != election.id:
                raise SignInFailed("flow", "open the emailed voting link first")
        services.check_window(election, clock.now())
        url, flow = oidc.begin("vote", election=election.id)
    except EidError as exc:
        return _refusal(exc, election, back)
    session[oidc.FLOW_KEY] = flow
    return redirect(url)


def _vote_done(election: Election | None, claim: str) -> Response:
    if election is None:
        raise SignInFailed("flow", "the election is gone")
    link = session_link(db.session, session) if election.sign_in == SIGN_IN_LINK_EID else None
    now = clock.now()
    member = services.identify_voter(db.session, election, claim, now, link)
    # Why a fresh session: whatever the browser held before the sign-in (a planted session, an
    # earlier member's) must not carry over; only the opened link stays in link+eid.
    start_voter_session(session)
    if link is not None:
        session[VOTER_KEY] = link.id
    remember_eid(session, election.id, member.member_id, now)
    return redirect(url_for("ballot.ballot_page"))


# --- Staff ------------------------------------------------------------------------------------


@bp.route("/admin/login/e-legitimation", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"])
def staff_start() -> View:
    """Begin an eID sign-in for a staff account."""
    from voting.admin.views import safe_next

    try:
        url, flow = oidc.begin("staff", next=safe_next(request.form.get("next")))
    except EidError as exc:
        return _refusal(exc, None, url_for("admin.login"))
    session[oidc.FLOW_KEY] = flow
    return redirect(url)


def _staff_done(flow: dict[str, Any], claim: str) -> Response:
    from voting.admin.views import safe_next

    now = clock.now()
    with db.transaction() as s:
        user = services.identify_staff(s, claim, now)
        services.record_staff_login(s, user, now)
    # Only after the commit, as the password login: the login is logged before the cookie says so.
    start_session(session, user, now)
    return redirect(safe_next(flow.get("next")))


# --- The provider's answer --------------------------------------------------------------------


@bp.route("/eid/callback", methods=["GET"])
# Why limited: each callback makes the server call the provider's token endpoint.
@limiter.limit(lambda: current_app.config["RATELIMIT_LINKS"])
def callback() -> View:
    """The redirect URI: check state, exchange the code, validate the ID token, then act."""
    # Why pop first: a flow is good for one answer only, whether it succeeds or not, so that a
    # state, a code or a nonce seen once can never be played again in this browser.
    flow = session.pop(oidc.FLOW_KEY, None)
    if not isinstance(flow, dict):
        flow = {}
    purpose = flow.get("purpose")
    election_id = flow.get("election")
    election = (
        db.session.get(Election, election_id)
        if purpose == "vote" and isinstance(election_id, int)
        else None
    )
    back = (
        url_for("eid.vote_page", slug=election.slug)
        if election is not None
        else url_for("admin.login")
        if purpose == "staff"
        else None
    )
    try:
        claims = oidc.finish(flow, request.args)
        claim = oidc.identity_claim(claims)
        if purpose == "vote":
            return _vote_done(election, claim)
        if purpose == "staff":
            return _staff_done(flow, claim)
        raise SignInFailed("flow", "unknown purpose")
    except EidError as exc:
        return _refusal(exc, election, back)
