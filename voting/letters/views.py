"""The letter code form (``/rosta/kod``, the voter's) and the committee's letters page."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
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
from flask_babel import ngettext
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from voting import clock
from voting.auth import Role, role_required
from voting.ballot.voter import VOTER_KEY, start_voter_session
from voting.db import db
from voting.errors import TransitionBlocked, VotingError
from voting.extensions import limiter
from voting.letters import services
from voting.letters.services import letter_contact
from voting.members.models import Member
from voting.web import View, election_or_404, error_reason

bp = Blueprint("letters", __name__)
admin_bp = Blueprint("letters_admin", __name__, url_prefix="/admin")


# --- The voter's code form ----------------------------------------------------------------


class CodeForm(FlaskForm):
    code = StringField(
        _l("Röstkod"),
        description=_l(
            "16 tecken i fyra grupper, till exempel K7QF-3MXR-9TAB-H2PW. Små eller stora "
            "bokstäver, mellanslag och bindestreck spelar ingen roll."
        ),
        validators=[DataRequired(_l("Skriv in röstkoden från ditt brev.")), Length(max=80)],
        render_kw={
            "autocomplete": "off",
            "autocapitalize": "characters",
            "spellcheck": "false",
            "inputmode": "text",
        },
    )


PROBLEM_STATUS = {"malformed": 400, "unknown": 403, "replaced": 403, "expired": 403}


def _code_limit() -> str:
    return str(current_app.config["RATELIMIT_LETTER_CODES"])


@bp.route("/rosta/kod", methods=["GET", "POST"])
# Why limited per address: the code is the credential, and a form that answers "unknown" is an
# oracle; SECURITY.md ("Voting letters") has the figures. GET only shows the form.
@limiter.limit(_code_limit, methods=["POST"])
def code_form() -> Response | tuple[str, int]:
    """The letter's voting code in, the same voter session as an opened link out."""
    form = CodeForm()
    problem, status = None, 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                link = services.authenticate_code(db.session, form.code.data or "", clock.now())
            except services.LetterCodeError as exc:
                problem, status = exc.code, PROBLEM_STATUS.get(exc.code, 403)
            else:
                start_voter_session(session)  # nothing from before carries over
                session[VOTER_KEY] = link.id
                return redirect(url_for("ballot.ballot_page"))
        else:
            status = 400
    return render_template("letters/code.html", form=form, problem=problem), status


# --- The committee's page -----------------------------------------------------------------


class ConfirmForm(FlaskForm):
    confirm = BooleanField(
        _l("Jag förstår att alla tidigare brev slutar fungera"),
        validators=[DataRequired(_l("Kryssa i rutan för att bekräfta."))],
    )


class MemberForm(FlaskForm):
    member_id = StringField(
        _l("Medlemsnummer"),
        validators=[DataRequired(_l("Ange medlemsnumret.")), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )


# The letter errors by code, as the page says them (blockers: voting.web.BLOCKER_LABELS).
ERRORS = {
    "not_on_roll": _l("medlemmen finns inte i röstlängden"),
    "not_letter": _l("medlemmens röstkanal är inte brev; ändra den först"),
    "no_address": _l("medlemmen har ingen postadress i registret"),
    "no_vote": _l("ingen omröstning hålls i medlemmens krets"),
    "voted": _l("medlemmen har redan röstat, så inget nytt brev gjordes"),
    "no_letters": _l("breven är redan nedladdade eller ersatta av nyare"),
}


def _page(slug: str, status: int = 200, **forms: FlaskForm) -> tuple[str, int]:
    election = election_or_404(slug)
    return render_template(
        "letters/admin.html",
        election=election,
        counts=services.letter_members(db.session, election),
        waiting=services.waiting(db.session, election),
        issue_form=forms.get("issue") or ConfirmForm(prefix="issue"),
        replace_form=forms.get("replace") or MemberForm(prefix="replace"),
    ), status


@admin_bp.route("/val/<slug>/brev", methods=["GET"])
@role_required(Role.COMMITTEE)
def page(slug: str) -> View:
    """Letters waiting for download, and the buttons to make new ones."""
    return _page(slug)


@admin_bp.route("/val/<slug>/brev/nya", methods=["POST"])
@role_required(Role.COMMITTEE)
def issue(slug: str) -> View:
    """``voting letters issue``: new letters for every letter member; old codes stop working."""
    election = election_or_404(slug)
    form = ConfirmForm(prefix="issue")
    if not form.validate_on_submit():
        return _page(slug, 400, issue=form)
    try:
        with db.transaction() as s:
            done = services.issue_letters(
                s,
                election,
                clock.now(),
                current_app.config["BASE_URL"],
                letter_contact(current_app.config),
                by=g.user.id,
            )
    except VotingError as exc:
        flash(_("Inga brev kunde göras: %(reason)s", reason=error_reason(exc, ERRORS)), "error")
        return _page(slug, 409, issue=form)
    flash(
        ngettext(
            "%(num)s brev är klart att laddas ner.",
            "%(num)s brev är klara att laddas ner.",
            done.count,
        ),
        "success",
    )
    if done.skipped.get("needs_approval"):
        flash(
            _(
                "%(num)s medlemmar fick inget brev eftersom brevet skulle gå dit deras röst "
                "inte gick förut. Gör ett nytt brev för var och en nedan; en andra ledamot "
                "godkänner.",
                num=done.skipped["needs_approval"],
            ),
            "error",
        )
    return redirect(url_for("letters_admin.page", slug=slug))


def _cutoff() -> timedelta:
    return timedelta(hours=float(current_app.config["LINK_MOVE_CUTOFF_HOURS"]))


@admin_bp.route("/val/<slug>/brev/ersatt", methods=["POST"])
@role_required(Role.COMMITTEE)
def replace(slug: str) -> View:
    """A new letter for one member; one that would move the vote waits for a second member."""
    election = election_or_404(slug)
    form = MemberForm(prefix="replace")
    if not form.validate_on_submit():
        return _page(slug, 400, replace=form)
    member_id = (form.member_id.data or "").strip()
    try:
        with db.transaction() as s:
            member = s.get(Member, member_id)
            if member is None:
                form.member_id.errors = [_("Ingen medlem har numret %(id)s.", id=member_id)]
                return _page(slug, 400, replace=form)
            if services.letter_would_move(s, election, member):
                services.ask_move(s, election, member, g.user.id, clock.now(), _cutoff())
                message = _(
                    "Brevet till medlem %(id)s skulle gå dit rösten inte gick förut. En andra "
                    "ledamot måste godkänna det på sidan E-post; sedan väntar brevet här.",
                    id=member_id,
                )
            else:
                services.replace_letter(
                    s,
                    election,
                    member,
                    clock.now(),
                    current_app.config["BASE_URL"],
                    letter_contact(current_app.config),
                    by=g.user.id,
                )
                message = _(
                    "Ett nytt brev till medlem %(id)s väntar på nedladdning; den gamla koden "
                    "fungerar inte längre.",
                    id=member_id,
                )
    except VotingError as exc:
        flash(
            _("Inget nytt brev kunde göras: %(reason)s", reason=error_reason(exc, ERRORS)), "error"
        )
        return _page(slug, 409 if isinstance(exc, TransitionBlocked) else 400, replace=form)
    except IntegrityError:
        flash(_("Någon annan gjorde samma sak samtidigt; se läget nedan."), "error")
        return _page(slug, 409, replace=form)
    flash(message, "success")
    return redirect(url_for("letters_admin.page", slug=slug))


@admin_bp.route("/val/<slug>/brev/<int:batch_id>/ladda-ner", methods=["POST"])
@role_required(Role.COMMITTEE)
def download(slug: str, batch_id: int) -> View:
    """The letters PDF, once: it is deleted from the server as it is handed out."""
    election = election_or_404(slug)
    try:
        with db.transaction() as s:
            pdf = services.download(s, election, batch_id, clock.now(), by=g.user.id)
    except VotingError as exc:
        flash(
            _("Breven kunde inte laddas ner: %(reason)s", reason=error_reason(exc, ERRORS)), "error"
        )
        return _page(slug, 404)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="brev-{election.slug}-{batch_id}.pdf"'
    )
    # Why no-store: the PDF holds voting codes; no cache on the way may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response
