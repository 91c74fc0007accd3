"""The committee's web admin: login, elections, nomination review and candidate lists."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import flask_babel
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from voting import clock
from voting.admin.errors import LoginError
from voting.admin.forms import (
    ActionForm,
    ElectionUploadForm,
    LoginForm,
    PublishForm,
    RejectForm,
    ScheduleForm,
)
from voting.admin.services import (
    LoginBackoff,
    authenticate,
    claim_login_attempt,
    end_session,
    logout_everywhere,
    start_session,
)
from voting.auth import GRANTS, Role, role_required
from voting.ballot.models import Tally
from voting.db import db
from voting.elections.errors import ElectionError
from voting.elections.models import Election
from voting.elections.services import (
    REMINDERS_FIELD,
    SCHEDULE_FIELDS,
    create_election,
    list_elections,
    parse_reminders,
    reminder_items,
    set_sign_in,
)
from voting.errors import NoVoteNotConfirmed, TransitionBlocked
from voting.extensions import limiter
from voting.lifecycle import Stage, stage
from voting.lifecycle.candidates import (
    contests_without_vote,
    no_vote_line,
    publication_blockers,
    publication_warnings,
    publish_candidates,
)
from voting.lifecycle.schedule import reschedule, set_reminders
from voting.nominations import review
from voting.nominations.errors import NotFound, ReviewError
from voting.nominations.models import NominationStatus
from voting.web import View, blocker_label, election_or_404, say

bp = Blueprint("admin", __name__, url_prefix="/admin")

STATUS_LABELS = {
    NominationStatus.AWAITING_NOMINEE.value: _l("Väntar på kandidatens svar"),
    NominationStatus.DECLINED.value: _l("Avböjd av kandidaten"),
    NominationStatus.AWAITING_REVIEW.value: _l("Väntar på granskning"),
    NominationStatus.APPROVED.value: _l("Godkänd"),
    NominationStatus.REJECTED.value: _l("Avslagen"),
}
# The election's stage (voting.lifecycle.stage) as the committee's pages name it.
STAGE_LABELS = {
    Stage.BEFORE_NOMINATION: _l("Före nomineringen"),
    Stage.NOMINATION: _l("Nominering pågår"),
    Stage.REVIEW: _l("Granskning"),
    Stage.CANDIDATES_PUBLISHED: _l("Kandidatlistor publicerade"),
    Stage.ROLL_FROZEN: _l("Röstlängden är fryst"),
    Stage.VOTING: _l("Röstning pågår"),
    Stage.CLOSED: _l("Röstningen har stängt"),
    Stage.SEALED: _l("Anslagstavlan är förseglad"),
    Stage.COUNTED: _l("Rösterna är räknade"),
    Stage.RESULTS_PUBLISHED: _l("Resultatet är publicerat"),
}


def can_review() -> bool:
    """Whether the logged-in user may see member data and act (committee or admin)."""
    user = g.get("user")
    return user is not None and Role.COMMITTEE in GRANTS[Role(user.role)]


@bp.context_processor
def _admin_globals() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "stage_label": lambda election: STAGE_LABELS[stage(db.session, election, clock.now())],
        "can_review": can_review(),
        "action_form": ActionForm(),
    }


def safe_next(target: str | None) -> str:
    """``target`` if it is a same-site relative path, else the dashboard."""
    fallback = url_for("admin.dashboard")
    if not target:
        return fallback
    # Why so strict: the login page is reached by links anyone can craft; "next" must never
    # send a freshly logged-in user to another site ("//evil", "/\\evil", "https:", tabs
    # that browsers strip to make "//").
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


# --- Login ------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
# Why rate-limited (POST only, per address): TOTP has a million codes and passwords can be
# guessed; the limit makes online guessing hopeless without locking out real users. Why per
# account as well (claim_login_attempt): an attacker with many addresses gets the address limit
# many times over, but each account's failures slow down all of them together.
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def login() -> View:
    """Email, password and the authenticator app's six-digit code (or Swedish eID)."""
    if current_app.config["STAFF_REQUIRE_EID"]:
        # Why refuse the form outright: the district requires eID for its staff, and a password
        # and a code must not be a way around that (voting/eid/views.py signs in).
        status = 400 if request.method == "POST" else 200
        return render_template(
            "admin/login.html", form=None, error=None, next=request.args.get("next", "")
        ), status
    form = LoginForm()
    error = None
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        now = clock.now()
        email, password = form.email.data or "", form.password.data or ""
        try:
            # Two transactions: the attempt is counted (and committed) before it is checked.
            with db.transaction() as s:
                claim_login_attempt(
                    s, email, password, now, LoginBackoff.from_config(current_app.config)
                )
            with db.transaction() as s:
                user = authenticate(s, email, password, form.code.data or "", now)
        except LoginError:
            # Every login failure has this one message, so nothing tells which part was wrong.
            error = _("Fel e-postadress, lösenord eller kod.")
        else:
            # Only after the commit: the code's time step must be spent before the cookie says
            # "logged in".
            start_session(session, user, now)
            return redirect(safe_next(form.next.data))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the account's sessions everywhere (CSRF is checked by CSRFProtect, as on every POST)."""
    user = g.get("user")
    if user is not None:
        # Why everywhere and in the database: clearing this cookie alone would leave any copy
        # of it (a replayed or stolen one) logged in until it expires.
        with db.transaction() as s:
            logout_everywhere(s, user, clock.now())
    end_session(session)
    flash(_("Du är utloggad."), "success")
    return redirect(url_for("admin.login"))


# --- Elections --------------------------------------------------------------------------


@bp.route("/", methods=["GET"])
@role_required(Role.AUDITOR)
def dashboard() -> View:
    """Every election with its phase and where to go next."""
    elections = list_elections(db.session)
    counts = {e.id: review.status_counts(db.session, e) for e in elections}
    # The record download answers only once the election is counted: link it from then on.
    counted = {e.id for e in elections if db.session.get(Tally, e.id) is not None}
    return render_template(
        "admin/dashboard.html", elections=elections, counts=counts, counted=counted, now=clock.now()
    )


@bp.route("/val/<slug>/", methods=["GET"])
@role_required(Role.AUDITOR)
def election(slug: str) -> View:
    """One election: its schedule, its kretsar and how far the review has come."""
    item = election_or_404(slug)
    counts = review.status_counts(db.session, item)
    return render_template(
        "admin/election.html",
        election=item,
        counts=counts,
        fields=SCHEDULE_FIELDS,
        now=clock.now(),
    )


@bp.route("/nytt-val", methods=["GET", "POST"])
@role_required(Role.COMMITTEE)
def election_new() -> View:
    """Create an election from an uploaded TOML file."""
    form = ElectionUploadForm()
    if form.validate_on_submit():
        raw = form.file.data.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            form.file.errors.append(_("Filen måste vara UTF-8-kodad text."))
        else:
            try:
                with db.transaction() as s:
                    created = create_election(s, text, clock.now(), by=g.user.id)
                    slug = created.slug
            except ElectionError as exc:
                form.file.errors.append(str(exc))
            else:
                flash(_("Valet %(slug)s har skapats.", slug=slug), "success")
                return redirect(url_for("admin.election", slug=slug))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/election_new.html", form=form), status


def _local_naive(item: Election, moment: datetime) -> datetime:
    return item.local(moment).replace(tzinfo=None, microsecond=0)


def reminders_text(hours: list[int] | None) -> str:
    """The stored reminder hours as the form shows them: "72, 24"."""
    return ", ".join(str(h) for h in hours or [])


@bp.route("/val/<slug>/schema", methods=["GET", "POST"])
@role_required(Role.COMMITTEE)
def schedule(slug: str) -> View:
    """Edit the four schedule times, entered as wall-clock time in the election's timezone,
    and the reminders, as hours before voting closes."""
    item = election_or_404(slug)
    form = ScheduleForm()
    if request.method == "GET":
        for field in SCHEDULE_FIELDS:
            getattr(form, field).data = _local_naive(item, getattr(item, field))
        form.reminders.data = reminders_text(item.reminder_hours)
        form.sign_in.data = item.sign_in
    elif form.validate_on_submit():
        # Only what was changed: a form saved unchanged must not log or move anything.
        changes: dict[str, str | datetime] = {
            field: getattr(form, field).data
            for field in SCHEDULE_FIELDS
            if getattr(form, field).data != _local_naive(item, getattr(item, field))
        }
        # A POST without the field (not from this page) leaves the reminders as they are; an
        # empty field means none.
        reminders = reminder_items(form.reminders.data or "") if form.reminders.raw_data else None
        try:
            with db.transaction() as s:
                now = clock.now()
                changed = bool(reschedule(s, item, changes, now, by=g.user.id))
                # Why compare first: set_reminders checks every reminder against the (new)
                # voting window, and unchanged reminders must not block a change of the times,
                # as with `voting election schedule` without --reminders (the scheduler skips a
                # reminder that falls before voting opens).
                if reminders is not None and parse_reminders(reminders, REMINDERS_FIELD) != sorted(
                    item.reminder_hours or [], reverse=True
                ):
                    changed = (
                        set_reminders(s, item, reminders, now, by=g.user.id) is not None or changed
                    )
                if form.sign_in.data:  # absent from a POST not made by this page: unchanged
                    changed = set_sign_in(s, item, form.sign_in.data, now, by=g.user.id) or changed
        except ElectionError as exc:
            # The field the service names: "sign_in", "reminders" or "reminders[2]" (the
            # second reminder), or a schedule time, with or without the file's "schedule.".
            field = (exc.field or "").removeprefix("schedule.")
            which, _bracket, number = field.partition("[")
            if field == "sign_in":
                form.sign_in.errors.append(exc.reason)
            elif which == REMINDERS_FIELD:
                form.reminders.errors.append(
                    str(_("Påminnelse %(number)s: %(error)s", number=number[:-1], error=exc.reason))
                    if number
                    else exc.reason
                )
            elif field in SCHEDULE_FIELDS:
                getattr(form, field).errors.append(exc.reason)
            else:
                flash(exc.message, "error")
        else:
            if changed:
                flash(_("Tidsplanen är ändrad."), "success")
            else:
                flash(_("Inget ändrades."), "success")
            return redirect(url_for("admin.election", slug=slug))
    status = 400 if request.method == "POST" else 200
    return render_template("admin/schedule.html", election=item, form=form), status


# --- Nominations ------------------------------------------------------------------------


@bp.route("/val/<slug>/nomineringar", methods=["GET"])
@role_required(Role.COMMITTEE)
def nominations(slug: str) -> View:
    """Nominations per krets with the member's data and every merged nominator."""
    item = election_or_404(slug)
    krets = request.args.get("krets") or None
    status = request.args.get("status") or None
    error = None
    try:
        rows = review.list_nominations(db.session, item, krets=krets, status=status)
    except ReviewError as exc:
        error, rows = f"{exc.field}: {say(exc)}", []  # the filter's name: krets or status
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(row.contest.krets_code, []).append(row)
    return render_template(
        "admin/nominations.html",
        election=item,
        groups=groups,
        krets=krets,
        status=status,
        error=error,
        merged=review.merged_submissions,
        approvable={s.value for s in review.APPROVABLE},
        rejectable={s.value for s in review.REJECTABLE},
        published=item.candidates_published_at is not None,
    ), (400 if error else 200)


def _back_to_list(slug: str, nomination_id: int) -> Response:
    # The list's filters travel as hidden fields: with Referrer-Policy no-referrer there is no
    # Referer to go back to. url_for quotes them, and the list validates them.
    args: dict[str, Any] = {k: v for k in ("krets", "status") if (v := request.form.get(k))}
    return redirect(url_for("admin.nominations", slug=slug, _anchor=f"n{nomination_id}", **args))


def _nomination_or_404(nomination_id: int) -> Any:
    try:
        return review.get_nomination(db.session, nomination_id)
    except NotFound:
        abort(404)


@bp.route("/nomineringar/<int:nomination_id>/godkann", methods=["POST"])
@role_required(Role.COMMITTEE)
def approve(nomination_id: int) -> Response:
    """Approve a nomination the nominee has accepted."""
    nomination = _nomination_or_404(nomination_id)
    slug = nomination.election.slug
    name = nomination.member.full_name
    try:
        with db.transaction() as s:
            review.approve(s, nomination, g.user, clock.now())
    except ReviewError as exc:
        flash(say(exc), "error")
    else:
        flash(_("%(name)s är godkänd som kandidat.", name=name), "success")
    return _back_to_list(slug, nomination_id)


@bp.route("/nomineringar/<int:nomination_id>/avsla", methods=["GET", "POST"])
@role_required(Role.COMMITTEE)
def reject(nomination_id: int) -> View:
    """Reject a nomination; the reason is required and mailed to the nominee."""
    nomination = _nomination_or_404(nomination_id)
    slug = nomination.election.slug
    name = nomination.member.full_name
    form = RejectForm()
    if form.validate_on_submit():
        try:
            with db.transaction() as s:
                review.reject(s, nomination, g.user, form.reason.data or "", clock.now())
        except ReviewError as exc:
            if exc.field == "reason":
                form.reason.errors.append(say(exc))
            else:
                flash(say(exc), "error")
                return _back_to_list(slug, nomination_id)
        else:
            flash(_("Nomineringen av %(name)s är avslagen.", name=name), "success")
            return _back_to_list(slug, nomination_id)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "admin/reject.html",
        nomination=nomination,
        form=form,
        krets=request.values.get("krets", ""),
        status_filter=request.values.get("status", ""),
    ), status


# --- Candidate lists --------------------------------------------------------------------


@bp.route("/val/<slug>/kandidater", methods=["GET"])
@role_required(Role.AUDITOR)
def candidates(slug: str) -> View:
    """Each krets's candidate list: approved nominations in list order (names only)."""
    item = election_or_404(slug)
    # Why: the auditor never sees member data, and until publication who was approved is just
    # that. Before it they have the counts on the election's overview; after it, public names.
    if item.candidates_published_at is None and not can_review():
        abort(403)
    lists = [(c, review.candidate_list(db.session, c)) for c in item.contests]
    return render_template("admin/candidates.html", election=item, lists=lists)


@bp.route("/val/<slug>/publicera", methods=["GET", "POST"])
@role_required(Role.COMMITTEE)
def publish(slug: str) -> View:
    """The guard page: what blocks publication, what to know, and the button."""
    item = election_or_404(slug)
    form = PublishForm()
    status = 200
    if request.method == "POST" and not form.validate_on_submit():
        # Unticked box (or a stale CSRF token): nothing is published; the field shows why.
        flash(_("Kandidatlistorna kunde inte publiceras."), "error")
        status = 400
    elif request.method == "POST":
        try:
            with db.transaction() as s:
                publish_candidates(
                    s,
                    item,
                    clock.now(),
                    g.user,
                    key_bits=current_app.config["CONTEST_KEY_BITS"],
                    confirm_no_vote=form.confirm_no_vote.data,
                )
        except NoVoteNotConfirmed:
            form.confirm_no_vote.errors = [
                _("Kryssa i rutan för att bekräfta att kretsarna inte får någon omröstning.")
            ]
            flash(_("Kandidatlistorna kunde inte publiceras."), "error")
            status = 400
        except TransitionBlocked:
            flash(_("Kandidatlistorna kunde inte publiceras."), "error")
            status = 409
        else:
            flash(_("Kandidatlistorna är publicerade."), "success")
            return redirect(url_for("admin.candidates", slug=slug))
    now = clock.now()
    return render_template(
        "admin/publish.html",
        election=item,
        form=form,
        blockers=[blocker_label(b) for b in publication_blockers(db.session, item, now)],
        warnings=publication_warnings(db.session, item, flask_babel),
        without_vote=[
            no_vote_line(c, n, flask_babel) for c, n in contests_without_vote(db.session, item)
        ]
        if item.candidates_published_at is None
        else [],
        counts=review.status_counts(db.session, item),
    ), status


# Registers the voting-phase and mail page routes.
from voting.admin import mail_views, voting_views  # noqa: E402,F401
