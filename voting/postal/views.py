"""The committee's postal pages: envelopes (four eyes), batches, and the double-entry screen.

Each form takes one action and comes back to the page, with the focus where the next one is
typed: registering envelope after envelope, or ballot after ballot, needs only the keyboard.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from voting import clock
from voting.auth import Role, role_required
from voting.db import db
from voting.elections.models import Contest, Election
from voting.errors import TransitionBlocked, VotingError
from voting.letters.services import letter_contact
from voting.postal import kit, services
from voting.postal.errors import PostalError
from voting.postal.models import PaperBallot, PostalBatch
from voting.web import View, election_or_404, error_reason

bp = Blueprint("postal_admin", __name__, url_prefix="/admin")

MEMBER_ATTRS = {"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}


class EnvelopeForm(FlaskForm):
    member_id = StringField(
        _l("Medlemsnummer på ytterkuvertet"),
        validators=[DataRequired(_l("Ange medlemsnumret.")), Length(max=40)],
        render_kw={**MEMBER_ATTRS, "autofocus": True},
    )


class ConfirmForm(FlaskForm):
    member_id = StringField(validators=[DataRequired(), Length(max=40)])


class BatchForm(FlaskForm):
    contest = SelectField(_l("Krets"), coerce=int, validate_choice=True)
    envelopes = IntegerField(
        _l("Antal innerkuvert"),
        validators=[InputRequired(_l("Ange antalet.")), NumberRange(min=1, max=100000)],
    )


class EntryForm(FlaskForm):
    position = IntegerField(
        _l("Röstsedel nummer"),
        validators=[InputRequired(_l("Ange röstsedelns nummer.")), NumberRange(min=1)],
    )
    marks = StringField(
        _l("Kryssade kandidatnummer"),
        description=_l(
            "Skriv numren med mellanslag, till exempel 1 4. Skriv 0 om inget namn är "
            "kryssat och x om sedeln inte går att läsa."
        ),
        validators=[DataRequired(_l("Skriv numren, 0 eller x.")), Length(max=200)],
        render_kw={"autocomplete": "off", "inputmode": "text", "autofocus": True},
    )


class ResolveForm(EntryForm):
    """The same fields, without taking the focus from the entry form."""

    marks = StringField(
        _l("Kryssade kandidatnummer"),
        description=EntryForm.marks.kwargs["description"],
        validators=[DataRequired(_l("Skriv numren, 0 eller x.")), Length(max=200)],
        render_kw={"autocomplete": "off", "inputmode": "text"},
    )


# The services speak English (they also serve the CLI); the page says each code in Swedish.
ERRORS: dict[str, Any] = {
    "roll_not_frozen": _l("röstlängden är inte fryst"),
    "unknown_member": _l("det finns ingen medlem med det numret"),
    "not_on_roll": _l("medlemmen finns inte i röstlängden"),
    "not_postal": _l("medlemmens röstkanal är inte poströst"),
    "no_vote": _l("ingen omröstning hålls i medlemmens krets"),
    "sealed": _l("röstningen är stängd och förseglad"),
    "not_open": _l("röstningen har inte öppnat"),
    "already_registered": _l("ett kuvert från medlemmen är redan registrerat"),
    "not_registered": _l("inget kuvert från medlemmen är registrerat"),
    "already_confirmed": _l("kuvertet är redan bekräftat"),
    "four_eyes": _l("en annan ledamot måste göra detta"),
    "batch_too_small": _l("före stängningen måste en omgång ha minst så många kuvert"),
    "too_many_envelopes": _l("så många bekräftade kuvert är inte oöppnade"),
    "bad_count": _l("ange ett heltal, minst 1"),
    "unknown_contest": _l("okänd krets"),
    "bad_number": _l("ett nummer är inte ett kandidatnummer"),
    "number_twice": _l("ett nummer står två gånger"),
    "no_marks": _l("skriv numren, 0 eller x"),
    "bad_position": _l("omgången har ingen röstsedel med det numret"),
    "entered_twice": _l("röstsedeln är redan inmatad två gånger"),
    "not_entered_twice": _l("röstsedeln är inte inmatad två gånger än"),
    "no_mismatch": _l("de två inmatningarna stämmer redan"),
    "accepted": _l("omgången är redan godkänd"),
    "unknown_batch": _l("okänd omgång"),
    "batch_not_ready": _l("alla röstsedlar är inte inmatade två gånger och överens"),
}


def _reason(exc: VotingError) -> str:
    if isinstance(exc, TransitionBlocked):
        return error_reason(exc)
    reason = str(ERRORS.get(exc.code or "", exc.message))
    params = getattr(exc, "params", {})
    if exc.code == "batch_too_small":
        reason += f" ({params.get('minimum')})"
    elif exc.code == "too_many_envelopes":
        reason = _("bara %(num)s bekräftade kuvert är oöppnade", num=params.get("unopened"))
    elif exc.code == "batch_not_ready":
        reason += ": " + exc.message
    return reason


def _contests(election: Election) -> list[Contest]:
    return sorted(election.contests, key=lambda c: c.krets.name)


def _page(slug: str, status: int = 200, **forms: FlaskForm) -> tuple[str, int]:
    election = election_or_404(slug)
    batch_form = forms.get("batch") or BatchForm(prefix="batch")
    batch_form.contest.choices = [(c.id, c.krets.name) for c in _contests(election)]
    counts = services.envelope_counts(db.session, election)
    batches = services.batches(db.session, election)
    return render_template(
        "postal/admin.html",
        election=election,
        contests=_contests(election),
        counts=counts,
        pending=services.pending_envelopes(db.session, election),
        batches=[(b, services.batch_state(db.session, b)) for b in batches],
        envelope_form=forms.get("envelope") or EnvelopeForm(prefix="envelope"),
        batch_form=batch_form,
        batch_min=current_app.config["POSTAL_BATCH_MIN"],
        me=g.user.id,
    ), status


@bp.route("/val/<slug>/post", methods=["GET"])
@role_required(Role.COMMITTEE)
def page(slug: str) -> View:
    """Envelopes registered and waiting, and the batches."""
    return _page(slug)


def _failed(exc: VotingError | IntegrityError) -> str:
    if isinstance(exc, IntegrityError):
        return _("Någon annan gjorde samma sak samtidigt; se läget nedan.")
    return _("Det gick inte: %(reason)s", reason=_reason(exc))


@bp.route("/val/<slug>/post/registrera", methods=["POST"])
@role_required(Role.COMMITTEE)
def register(slug: str) -> View:
    """Register one returned outer envelope; a second member confirms it."""
    election = election_or_404(slug)
    form = EnvelopeForm(prefix="envelope")
    if not form.validate_on_submit():
        return _page(slug, 400, envelope=form)
    member_id = (form.member_id.data or "").strip()
    try:
        with db.transaction() as s:
            services.register_envelope(s, election, member_id, clock.now(), by=g.user.id)
    except (VotingError, IntegrityError) as exc:
        form.member_id.errors = [_failed(exc)]
        return _page(slug, 409, envelope=form)
    flash(_("Kuvertet från medlem %(id)s är registrerat.", id=member_id), "success")
    return redirect(url_for("postal_admin.page", slug=slug))


@bp.route("/val/<slug>/post/bekrafta", methods=["POST"])
@role_required(Role.COMMITTEE)
def confirm(slug: str) -> View:
    """The second committee member confirms an envelope (or sees it set aside)."""
    election = election_or_404(slug)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _page(slug, 400)
    member_id = (form.member_id.data or "").strip()
    try:
        with db.transaction() as s:
            done = services.confirm_envelope(s, election, member_id, clock.now(), by=g.user.id)
            status = done.status
    except (VotingError, IntegrityError) as exc:
        flash(_failed(exc), "error")
        return _page(slug, 409)
    if status == "set_aside":
        flash(
            _(
                "Medlem %(id)s har redan röstat digitalt. Lägg kuvertet åt sidan oöppnat.",
                id=member_id,
            ),
            "error",
        )
    else:
        flash(_("Kuvertet från medlem %(id)s är bekräftat.", id=member_id), "success")
    return redirect(url_for("postal_admin.page", slug=slug))


@bp.route("/val/<slug>/post/omgang", methods=["POST"])
@role_required(Role.COMMITTEE)
def open_batch(slug: str) -> View:
    """Open inner envelopes of one krets together, as a numbered batch."""
    election = election_or_404(slug)
    form = BatchForm(prefix="batch")
    form.contest.choices = [(c.id, c.krets.name) for c in _contests(election)]
    if not form.validate_on_submit():
        return _page(slug, 400, batch=form)
    try:
        with db.transaction() as s:
            batch = services.open_batch(
                s,
                election,
                form.contest.data,
                form.envelopes.data or 0,
                clock.now(),
                batch_min=int(current_app.config["POSTAL_BATCH_MIN"]),
                by=g.user.id,
            )
            batch_id = batch.id
    except (VotingError, IntegrityError) as exc:
        form.envelopes.errors = [_failed(exc)]
        return _page(slug, 409, batch=form)
    return redirect(url_for("postal_admin.batch", slug=slug, batch_id=batch_id))


def _batch_or_404(election: Election, batch_id: int) -> PostalBatch:
    batch = db.session.get(PostalBatch, batch_id)
    if batch is None or batch.election_id != election.id:
        abort(404)
    return batch


def _next_position(batch: PostalBatch, user_id: int) -> int | None:
    """The first ballot of the batch this committee member can still enter."""
    rows = {
        r.position: r
        for r in db.session.scalars(select(PaperBallot).where(PaperBallot.batch_id == batch.id))
    }
    for position in range(1, batch.envelopes + 1):
        row = rows.get(position)
        if row is None or (row.second is None and row.first_by != user_id):
            return position
    return None


def _batch_page(
    slug: str, batch_id: int, status: int = 200, form: EntryForm | None = None
) -> tuple[str, int]:
    election = election_or_404(slug)
    batch = _batch_or_404(election, batch_id)
    contest = db.session.get_one(Contest, batch.contest_id)
    candidates = services.ballot.published_candidates(db.session, contest)
    if form is None:
        form = EntryForm(prefix="entry")
        form.position.data = _next_position(batch, g.user.id)
    return render_template(
        "postal/batch.html",
        election=election,
        batch=batch,
        contest=contest,
        rule=contest.rule(len(candidates)),
        candidates=candidates,
        state=services.batch_state(db.session, batch),
        form=form,
        resolve_form=ResolveForm(prefix="resolve"),
    ), status


@bp.route("/val/<slug>/post/omgang/<int:batch_id>", methods=["GET"])
@role_required(Role.COMMITTEE)
def batch(slug: str, batch_id: int) -> View:
    """The entry screen of a batch: the numbered candidates and one ballot's form."""
    return _batch_page(slug, batch_id)


@bp.route("/val/<slug>/post/omgang/<int:batch_id>/mata-in", methods=["POST"])
@role_required(Role.COMMITTEE)
def enter(slug: str, batch_id: int) -> View:
    """Enter one paper ballot (first or second entry); then on to the next."""
    election = election_or_404(slug)
    form = EntryForm(prefix="entry")
    if not form.validate_on_submit():
        return _batch_page(slug, batch_id, 400, form)
    try:
        with db.transaction() as s:
            services.enter_ballot(
                s,
                election,
                batch_id,
                form.position.data or 0,
                form.marks.data or "",
                clock.now(),
                by=g.user.id,
            )
    except (VotingError, IntegrityError) as exc:
        form.marks.errors = [_failed(exc)]
        return _batch_page(slug, batch_id, 409 if isinstance(exc, PostalError) else 400, form)
    flash(_("Röstsedel %(num)s är inmatad.", num=form.position.data), "success")
    return redirect(url_for("postal_admin.batch", slug=slug, batch_id=batch_id))


@bp.route("/val/<slug>/post/omgang/<int:batch_id>/los", methods=["POST"])
@role_required(Role.COMMITTEE)
def resolve(slug: str, batch_id: int) -> View:
    """Settle a ballot whose two entries differ, with the paper ballot at hand."""
    election = election_or_404(slug)
    form = ResolveForm(prefix="resolve")
    if not form.validate_on_submit():
        flash(_("Ange röstsedelns nummer och numren, 0 eller x."), "error")
        return _batch_page(slug, batch_id, 400)
    try:
        with db.transaction() as s:
            services.resolve_ballot(
                s,
                election,
                batch_id,
                form.position.data or 0,
                form.marks.data or "",
                clock.now(),
                by=g.user.id,
            )
    except (VotingError, IntegrityError) as exc:
        flash(_failed(exc), "error")
        return _batch_page(slug, batch_id, 409)
    flash(_("Röstsedel %(num)s är avgjord.", num=form.position.data), "success")
    return redirect(url_for("postal_admin.batch", slug=slug, batch_id=batch_id))


@bp.route("/val/<slug>/post/omgang/<int:batch_id>/godkann", methods=["POST"])
@role_required(Role.COMMITTEE)
def accept(slug: str, batch_id: int) -> View:
    """Accept a batch whose ballots are all entered twice and agree."""
    election = election_or_404(slug)
    if not FlaskForm().validate_on_submit():
        return _batch_page(slug, batch_id, 400)
    try:
        with db.transaction() as s:
            counts = services.accept_batch(s, election, batch_id, clock.now(), by=g.user.id)
    except (VotingError, IntegrityError) as exc:
        flash(_failed(exc), "error")
        return _batch_page(slug, batch_id, 409)
    flash(
        _(
            "Omgången är godkänd: %(valid)s giltiga och %(invalid)s ogiltiga röstsedlar.",
            valid=counts["ballots"],
            invalid=counts["invalid"],
        ),
        "success",
    )
    return redirect(url_for("postal_admin.page", slug=slug))


@bp.route("/val/<slug>/post/utskick.pdf", methods=["POST"])
@role_required(Role.COMMITTEE)
def kits(slug: str) -> View:
    """The postal kits PDF (letter, ballot, return instructions) for the print shop."""
    election = election_or_404(slug)
    if not FlaskForm().validate_on_submit():
        return _page(slug, 400)
    try:
        with db.transaction() as s:
            pdf, _count, _skipped = kit.kits_pdf(
                s,
                election,
                clock.now(),
                current_app.config["BASE_URL"],
                letter_contact(current_app.config),
                by=g.user.id,
            )
    except VotingError as exc:
        flash(_failed(exc), "error")
        return _page(slug, 409)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="post-{election.slug}.pdf"'
    # Why no-store: the kits hold names and addresses; no cache on the way may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response
