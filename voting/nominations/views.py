"""The public questionnaire, the confirmation link, the nominee's pages and the candidate lists."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
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
from werkzeug.exceptions import RequestEntityTooLarge

from ballots.rules import holds_vote
from voting import clock
from voting.auth import GRANTS, Role
from voting.db import db
from voting.elections.errors import ElectionNotFound
from voting.elections.models import Election
from voting.elections.services import get_election
from voting.extensions import limiter
from voting.nominations import pending
from voting.nominations.errors import (
    LinkInvalid,
    NominationError,
    PhotoInvalid,
    PresentationInvalid,
)
from voting.nominations.forms import AnswerForm, NominationForm, PresentationForm
from voting.nominations.models import Nomination, NominationStatus
from voting.nominations.photos import MAX_UPLOAD_BYTES, reencode
from voting.nominations.presentations import (
    nomination_links,
    presentation_frozen,
    update_presentation,
)
from voting.nominations.services import (
    ACCEPTED,
    LinkResult,
    SubmissionInput,
    confirm,
    forening_groups,
    is_published,
    may_see_photo,
    open_nominee_link,
    published_contests,
    require_open,
    respond,
    submit,
)
from voting.web import say

bp = Blueprint("nominations", __name__)
# The committee's review pages show presentations with the same reader as the public list.
bp.add_app_template_global(nomination_links, "nomination_links")

# How long the nominee's browser session stays signed in after opening the emailed link.
NOMINEE_SESSION = timedelta(hours=4)


def _election(slug: str) -> Election:
    try:
        return get_election(db.session, slug)
    except ElectionNotFound:
        abort(404)


def _public_form_limit() -> str:
    return str(current_app.config["RATELIMIT_PUBLIC_FORM"])


def _links_limit() -> str:
    return str(current_app.config["RATELIMIT_LINKS"])


def _nominee_id() -> int | None:
    """The nomination this browser opened by its emailed link, while that session lasts."""
    marker = session.get("nominee")
    if not isinstance(marker, dict):
        return None
    nomination_id, until = marker.get("id"), marker.get("until")
    if not isinstance(nomination_id, int) or not isinstance(until, int | float):
        return None
    if clock.now().timestamp() > until:
        session.pop("nominee", None)
        return None
    return nomination_id


# --- The questionnaire ---------------------------------------------------------------------


@bp.route("/val/<slug>/nominera", methods=["GET", "POST"])
@limiter.limit(_public_form_limit, methods=["POST"])
def form(slug: str) -> Any:
    """The nomination questionnaire; a valid POST always gets the same answer."""
    election = _election(slug)
    now = clock.now()
    try:
        require_open(election, now)
    except NominationError as exc:
        # Why 403 on POST: a submission after the deadline is refused, not just unanswered.
        status = 403 if request.method == "POST" else 200
        return render_template(
            "nominations/closed.html", election=election, message=say(exc)
        ), status
    groups = forening_groups(db.session)
    ids = frozenset(fid for _name, items in groups for fid, _label in items)
    nomination_form = NominationForm(forening_ids=ids)
    if request.method == "POST":
        if not nomination_form.validate():
            return render_template(
                "nominations/form.html", election=election, form=nomination_form, groups=groups
            ), 400
        f = nomination_form
        data = SubmissionInput(
            nominator_email=f.nominator_email.data,
            as_forening=f.nominating_as.data == "forening",
            forening_id=f.forening_id.data,
            first_name=f.nominee_first_name.data,
            last_name=f.nominee_last_name.data,
            identifier=f.nominee_identifier.data,
            motivation=f.motivation.data or None,
        )
        try:
            with db.transaction() as tx:
                submit(tx, election, data, now, current_app.config)
        except NominationError as exc:
            return render_template(
                "nominations/closed.html", election=election, message=say(exc)
            ), exc.status
        # Why the same page whatever happened: the answer must not reveal who is a member.
        return render_template(
            "nominations/submitted.html", election=election, email=data.nominator_email
        )
    return render_template(
        "nominations/form.html", election=election, form=nomination_form, groups=groups
    )


# --- The confirmation link ----------------------------------------------------------------


def _link_page(kind: str, token: str) -> Response:
    """The page an emailed link opens: what the button will do, and the button (a POST)."""
    action = url_for(".confirm_link" if kind == "confirm" else ".nominee_link", token=token)
    response = Response(render_template("nominations/open_link.html", kind=kind, action=action))
    # Why no-store: the page holds the token (in the form's action); no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


# Why a GET only shows a button: mail security scanners (Safe Links, Proofpoint, ...) open
# links before the recipient does. A GET that redeemed the token would confirm a nomination
# nobody confirmed, and use up each nominee link before the nominee gets to it. Only the
# POST, with this page's CSRF token (scanners fetch links; they do not press buttons), acts.
@bp.route("/nominera/bekrafta/<token>", methods=["GET", "POST"])
@limiter.limit(_links_limit, methods=["POST"])
def confirm_link(token: str) -> Any:
    """GET: the confirm button. POST: redeem the link, then redirect so the token leaves the URL."""
    if request.method != "POST":
        return _link_page("confirm", token)
    try:
        with db.transaction() as tx:
            result = confirm(tx, token, clock.now(), current_app.config)
            marker = {
                "title": result.nomination.election.title,
                "slug": result.nomination.election.slug,
                "duplicate": result.duplicate,
            }
    except LinkInvalid as exc:
        if exc.reason == "used":
            # Not a failure: the nomination was confirmed with this very link (a second press,
            # or the mail opened again), so the page says so instead of "the link fails".
            return render_template("nominations/already_confirmed.html")
        return render_template(
            "nominations/link_invalid.html", message=say(exc), reason=exc.reason
        ), exc.status
    except NominationError as exc:
        return render_template(
            "nominations/link_invalid.html", message=say(exc), reason="closed"
        ), exc.status
    session["nomination_confirmed"] = marker
    return redirect(url_for(".confirmed"), 303)


@bp.route("/nominera/bekraftad", methods=["GET"])
def confirmed() -> Any:
    """The landing page after a confirmation link was opened."""
    return render_template("nominations/confirmed.html", marker=session.get("nomination_confirmed"))


# --- The nominee ---------------------------------------------------------------------------


@bp.route("/kandidat/<token>", methods=["GET", "POST"])
@limiter.limit(_links_limit, methods=["POST"])
def nominee_link(token: str) -> Any:
    """GET: the sign-in button. POST: sign this browser in to /kandidat, or mail a new link."""
    if request.method != "POST":
        # Why not on GET: a scanner's prefetch would use up the link, or mail a new one.
        return _link_page("nominee", token)
    now = clock.now()
    try:
        with db.transaction() as tx:
            result, nomination_id = open_nominee_link(
                tx, token, now, current_app.config, _nominee_id()
            )
    except LinkInvalid as exc:
        return render_template(
            "nominations/link_invalid.html", message=say(exc), reason=exc.reason
        ), exc.status
    if result in (LinkResult.OPENED, LinkResult.ALREADY_HERE):
        session["nominee"] = {
            "id": nomination_id,
            "until": int((now + NOMINEE_SESSION).timestamp()),
        }
        return redirect(url_for(".nominee"), 303)
    return render_template(
        "nominations/link_resent.html", recently=result is LinkResult.RECENTLY_SENT
    ), 410


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> Any:
    return render_template(
        "nominations/link_invalid.html",
        message=_("Filen är för stor. Fotot får vara högst 2 MB."),
        reason="too_large",
    ), 413


@bp.route("/kandidat", methods=["GET", "POST"])
def nominee() -> Any:
    """The nominee's page: accept or decline, then write the presentation until the close."""
    nomination_id = _nominee_id()
    nomination = db.session.get(Nomination, nomination_id) if nomination_id else None
    if nomination is None:
        return render_template("nominations/no_session.html"), 403
    now = clock.now()
    published = is_published(nomination)
    frozen = presentation_frozen(nomination, now)
    answer_form = AnswerForm()
    presentation_form: PresentationForm | None = None
    status_code = 200
    confirm_decline = False
    pending_src: str | None = None
    if nomination.status == NominationStatus.AWAITING_NOMINEE:
        chosen = answer_form.accept.data or answer_form.decline.data
        if request.method == "POST" and not (answer_form.validate_on_submit() and chosen):
            status_code = 400
        elif request.method == "POST" and not published and _decline_unconfirmed(answer_form):
            # Why a second step: a decline is final, and one stray tap must not make it.
            confirm_decline = True
        elif request.method == "POST":
            accept = bool(answer_form.accept.data)
            try:
                with db.transaction() as tx:
                    respond(tx, nomination, accept, now)
            except NominationError as exc:
                flash(say(exc), "error")
                return redirect(url_for(".nominee"))
            flash(
                _("Tack! Du har tackat ja. Skriv gärna din presentation nedan.")
                if accept
                else _("Du har tackat nej till nomineringen."),
                "success",
            )
            return redirect(url_for(".nominee"))
    elif nomination.status in ACCEPTED and not frozen:
        if request.method == "POST":
            presentation_form = PresentationForm()
            saved, pending_src = _save_presentation(nomination, presentation_form, now)
            if saved:
                return redirect(url_for(".nominee"))
            status_code = 400
        else:
            links = nomination_links(nomination) + ["", "", ""]
            presentation_form = PresentationForm(
                data={
                    "text": nomination.presentation or "",
                    "link_1": links[0],
                    "link_2": links[1],
                    "link_3": links[2],
                }
            )
    elif request.method == "POST":
        flash(_("Det går inte längre att ändra något här."), "error")
        return redirect(url_for(".nominee"))
    return render_template(
        "nominations/nominee.html",
        nomination=nomination,
        answer_form=answer_form,
        form=presentation_form,
        published=published,
        frozen=frozen,
        confirm_decline=confirm_decline,
        pending_src=pending_src,
        links=nomination_links(nomination),
    ), status_code


def _decline_unconfirmed(form: AnswerForm) -> bool:
    return bool(form.decline.data) and form.decline_confirmed.data != "1"


def _save_presentation(
    nomination: Nomination, form: PresentationForm, now: datetime
) -> tuple[bool, str | None]:
    """Save a posted presentation: (True, None) when done, else (False, a kept photo's preview).

    A photo sent with a form that has errors is kept, signed in the page (pending.py), so the
    nominee need not choose it again: a browser cannot refill a file input.
    """
    valid = form.validate_on_submit()
    upload = _uploaded_photo(form)
    remove = bool(form.remove_photo.data)
    kept = None if upload is not None else pending.unseal(nomination.id, form.pending_photo.data)
    if remove and upload is None:
        kept = None  # "remove the photo" discards a photo waiting to be saved as well
    if valid:
        try:
            with db.transaction() as tx:
                back_to_review = update_presentation(
                    tx,
                    nomination,
                    text=form.text.data,
                    links=form.links,
                    photo=upload if upload is not None else kept,
                    remove_photo=remove,
                    now=now,
                )
        except PresentationInvalid as exc:
            _attach_error(form, exc)
        except NominationError as exc:
            flash(say(exc), "error")
            return True, None
        else:
            flash(_("Presentationen är sparad."), "success")
            if back_to_review:
                flash(
                    _(
                        "Valberedningen hade redan godkänt nomineringen. Eftersom "
                        "presentationen ändrades granskas den nu på nytt."
                    ),
                    "info",
                )
            return True, None
    if upload is not None and not form.photo.errors:
        try:
            kept = reencode(upload)
        except PhotoInvalid as exc:
            form.photo.errors = [*form.photo.errors, say(exc)]
    form.pending_photo.data = pending.seal(nomination.id, kept) if kept is not None else ""
    return False, pending.data_uri(kept) if kept is not None else None


def _photo_chosen(form: PresentationForm) -> bool:
    storage = form.photo.data
    return storage is not None and bool(getattr(storage, "filename", None))


def _uploaded_photo(form: PresentationForm) -> bytes | None:
    storage = form.photo.data
    if not _photo_chosen(form):
        return None
    # Read one byte past the limit, so a too-large file is told apart without reading it all.
    data: bytes = storage.read(MAX_UPLOAD_BYTES + 1)
    return data


def _attach_error(form: PresentationForm, exc: PresentationInvalid) -> None:
    field = {"text": form.text, "photo": form.photo, "links": form.link_1}.get(exc.field or "")
    if field is None:
        flash(say(exc), "error")
        return
    field.errors = [*field.errors, say(exc)]


@bp.route("/kandidat/foto/<int:nomination_id>.jpg", methods=["GET"])
def photo(nomination_id: int) -> Response:
    """A candidate's photo: public once published and approved, else only for the nominee."""
    nomination = db.session.get(Nomination, nomination_id)
    if nomination is None or nomination.photo is None:
        abort(404)
    # Why 404 rather than 403: an unpublished nominee's photo must not even be known to exist.
    # The committee sees every photo: it reviews what it approves and publishes (item 15).
    if not (may_see_photo(nomination, _nominee_id()) or _committee()):
        abort(404)
    response = Response(nomination.photo, mimetype="image/jpeg")
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _committee() -> bool:
    user = g.get("user")
    return user is not None and Role.COMMITTEE in GRANTS[Role(user.role)]


# --- The published lists -------------------------------------------------------------------


@bp.route("/val/<slug>/kandidater", methods=["GET"])
def candidates(slug: str) -> Any:
    """The published candidate lists, one per krets, with presentations."""
    election = _election(slug)
    return render_template(
        "nominations/candidates.html",
        election=election,
        lists=published_contests(db.session, election),
        links_of=nomination_links,
        holds_vote=holds_vote,
    )
