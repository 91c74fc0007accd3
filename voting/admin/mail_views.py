"""The committee's mail page per election: outbox counts, failed mails, bounced addresses.

From here the committee corrects a member's email address (which clears the bounce mark) and
sends the member a new voting link, in one transaction. It also sees, per krets, how many
members of the roll mail cannot reach (no address, bounced or rejected), and lists them or
downloads them as CSV. A member who has already voted gets no
new link (it could only say that they cannot vote again); the page says so instead. Names and
member IDs are shown on the page (the committee needs them to reach the member), never written
to the logs.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from email_validator import EmailNotValidError
from flask import Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from wtforms import BooleanField, EmailField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from voting import clock
from voting.admin.views import bp
from voting.auth import Role, role_required
from voting.ballot import links
from voting.ballot.models import LinkMove, RollEntry
from voting.ballot.unreachable import Reason, reach, unreachable_csv, unreachable_members
from voting.db import db
from voting.elections.models import Election
from voting.errors import VotingError
from voting.letters import moves as link_moves
from voting.mail.addresses import change_email
from voting.mail.models import MailStatus, OutboxMessage
from voting.members.models import Member
from voting.members.services import normalize_email
from voting.staff.models import User
from voting.web import View, election_or_404, error_reason

# How many failed mails and bounced members the page lists; the counts above are complete.
LIST_LIMIT = 200

KIND_LABELS = {
    "voter_link": _l("Röstlänk"),
    "nominee_invite": _l("Inbjudan till kandidat"),
    "nominee_link": _l("Ny kandidatlänk"),
    "nomination_approved": _l("Kandidatur godkänd"),
    "nomination_rejected": _l("Nominering avslagen"),
    "nomination_confirm": _l("Bekräfta nominering"),
    "nomination_refused": _l("Nominering kunde inte tas emot"),
    "committee_summary": _l("Sammanfattning till valberedningen"),
}

REASON_LABELS = {
    Reason.MISSING: _l("Ingen e-postadress"),
    Reason.BOUNCED: _l("Adressen studsade"),
    Reason.REJECTED: _l("Brevet avvisades"),
}


PREFIX_RE = re.compile(r"^(?:other|m-[0-9a-f]{12})$")


def form_prefix(member_id: str) -> str:
    """A per-member form prefix, so that field ids on the page are unique and HTML-safe."""
    return "m-" + hashlib.sha256(member_id.encode()).hexdigest()[:12]


def _valid_email(form: FlaskForm, field: Any) -> None:
    try:
        field.data = normalize_email(field.data or "")
    except EmailNotValidError as exc:
        raise ValidationError(_("Ogiltig e-postadress: %(why)s", why=str(exc))) from exc


class CorrectEmailForm(FlaskForm):
    """Correct one member's address; optionally send a new voting link to it at once."""

    member_id = HiddenField(validators=[DataRequired(), Length(max=40)])
    email = EmailField(
        _l("Ny e-postadress"),
        validators=[DataRequired(_l("Ange e-postadressen.")), Length(max=320), _valid_email],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )
    resend = BooleanField(_l("Skicka en ny röstlänk till den nya adressen"), default=True)


class OtherMemberForm(CorrectEmailForm):
    """The same, for any member named by member ID (not only those listed as bounced)."""

    member_id = StringField(
        _l("Medlemsnummer"),
        validators=[DataRequired(_l("Ange medlemsnumret.")), Length(max=40)],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )


def mail_status(session: Session, election: Election) -> dict[str, Any]:
    """Counts per status of the election's mail, the failed mails and the bounced members."""
    counts = {s.value: 0 for s in MailStatus}
    for status, count in session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.election_id == election.id)
        .group_by(OutboxMessage.status)
    ):
        counts[status] = count
    failed = session.execute(
        select(OutboxMessage, Member)
        .outerjoin(Member, Member.member_id == OutboxMessage.member_id)
        .where(
            OutboxMessage.election_id == election.id,
            OutboxMessage.status == MailStatus.FAILED,
        )
        .order_by(OutboxMessage.id.desc())
        .limit(LIST_LIMIT)
    ).all()
    on_roll = select(RollEntry.member_id).where(RollEntry.election_id == election.id)
    mailed = select(OutboxMessage.member_id).where(
        OutboxMessage.election_id == election.id, OutboxMessage.member_id.is_not(None)
    )
    bounced = list(
        session.scalars(
            select(Member)
            .where(
                Member.email_bounced_at.is_not(None),
                or_(Member.member_id.in_(on_roll), Member.member_id.in_(mailed)),
            )
            .order_by(Member.member_id)
            .limit(LIST_LIMIT)
        )
    )
    return {"counts": counts, "failed": failed, "bounced": bounced}


def _page(election: Election, form: FlaskForm | None = None, status: int = 200) -> View:
    now = clock.now()
    data = mail_status(db.session, election)
    forms = {}
    for member in data["bounced"]:
        if (
            isinstance(form, CorrectEmailForm)
            and not isinstance(form, OtherMemberForm)
            and (form.member_id.data == member.member_id)
        ):
            forms[member.member_id] = form  # keep what was typed, with its errors
        else:
            forms[member.member_id] = CorrectEmailForm(
                prefix=form_prefix(member.member_id),
                formdata=None,
                data={"member_id": member.member_id, "email": member.email},
            )
    other = form if isinstance(form, OtherMemberForm) else None
    return render_template(
        "admin/mail.html",
        election=election,
        now=now,
        closed=now > election.voting_closes,
        status=data,
        forms=forms,
        other_form=other or OtherMemberForm(prefix="other", formdata=None),
        kind_labels=KIND_LABELS,
        list_limit=LIST_LIMIT,
        reach=reach(db.session, election),
        moves=_pending_moves(election),
        decide_form=DecideMoveForm(),
    ), status


def _pending_moves(election: Election) -> list[dict[str, Any]]:
    """The links waiting for a second committee member, with whom they are for."""
    out = []
    for move in link_moves.pending(db.session, election):
        member = db.session.get_one(Member, move.member_id)
        asked_by = db.session.get_one(User, move.asked_by)
        out.append({"move": move, "member": member, "asked_by": asked_by})
    return out


@bp.route("/val/<slug>/epost", methods=["GET"])
@role_required(Role.COMMITTEE)
def mail(slug: str) -> View:
    """The election's mail: counts, failures and bounces; committee only (names are shown)."""
    return _page(election_or_404(slug))


@bp.route("/val/<slug>/epost/onabara", methods=["GET"])
@role_required(Role.COMMITTEE)
def mail_unreachable(slug: str) -> View:
    """The members of the roll whom mail cannot reach, and why; committee only (names)."""
    election = election_or_404(slug)
    return render_template(
        "admin/unreachable.html",
        election=election,
        members=unreachable_members(db.session, election),
        reach=reach(db.session, election),
        reason_labels=REASON_LABELS,
    )


@bp.route("/val/<slug>/epost/onabara.csv", methods=["GET"])
@role_required(Role.COMMITTEE)
def mail_unreachable_csv(slug: str) -> Response:
    """The same list as CSV, for a spreadsheet (or for letters by post)."""
    election = election_or_404(slug)
    return Response(
        unreachable_csv(unreachable_members(db.session, election)),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{election.slug}-onabara.csv"',
        },
    )


@bp.route("/val/<slug>/epost/ratta", methods=["POST"])
@role_required(Role.COMMITTEE)
def mail_correct(slug: str) -> View:
    """Correct a member's email address and, if asked, send the member a new voting link."""
    election = election_or_404(slug)
    prefix = request.form.get("prefix", "")
    if PREFIX_RE.match(prefix) and prefix != "other":
        form: CorrectEmailForm = CorrectEmailForm(prefix=prefix)
    else:
        form = OtherMemberForm(prefix="other")
    failure = _("E-postadressen kunde inte rättas")
    if not form.validate_on_submit():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        flash(f"{failure}: {errors}", "error")
        return _page(election, form, 400)
    member_id = form.member_id.data.strip()
    voted = asked = False
    try:
        with db.transaction() as s:
            member = s.get(Member, member_id)
            if member is None:
                raise VotingError(_("ingen medlem har numret %(id)s", id=member_id))
            change_email(s, member, form.email.data, clock.now(), by=g.user.id)
            # Why no new link for a member who has voted: it could only tell them that they
            # cannot vote again. The corrected address is kept all the same.
            voted = bool(form.resend.data) and links.has_voted(s, election, member.member_id)
            if form.resend.data and not voted:
                if links.link_would_move(s, election, member):
                    # A link moved to a new address waits for a second committee member.
                    link_moves.ask(s, election, member, g.user.id, clock.now(), _move_cutoff())
                    asked = True
                else:
                    links.resend_link(s, election, member, clock.now(), _base_url(), by=g.user.id)
    except VotingError as exc:
        # Nothing was written: the address stays as it was, so the committee can decide again.
        flash(f"{failure}: {error_reason(exc)}", "error")
        return _page(election, form, 409)
    if asked:
        flash(
            _(
                "Medlem %(id)s har fått en ny e-postadress. Röstlänken skickas dit först när en "
                "annan ledamot i valberedningen har godkänt det här på sidan.",
                id=member_id,
            ),
            "success",
        )
    elif voted:
        flash(
            _(
                "Medlem %(id)s har fått en ny e-postadress. Medlemmen har redan röstat i det här "
                "valet, så ingen ny röstlänk skickades.",
                id=member_id,
            ),
            "success",
        )
    elif form.resend.data:
        flash(
            _(
                "Medlem %(id)s har fått en ny e-postadress och en ny röstlänk är köad.",
                id=member_id,
            ),
            "success",
        )
    else:
        flash(_("Medlem %(id)s har fått en ny e-postadress.", id=member_id), "success")
    return redirect(url_for("admin.mail", slug=slug))


def _move_cutoff() -> timedelta:
    return timedelta(hours=int(current_app.config["LINK_MOVE_CUTOFF_HOURS"]))


def _base_url() -> str:
    return str(current_app.config["BASE_URL"])


class DecideMoveForm(FlaskForm):
    """Approve or refuse another committee member's request to move a link (button only)."""


@bp.route("/val/<slug>/epost/flytt/<int:move_id>/<any(godkann, avsla):decision>", methods=["POST"])
@role_required(Role.COMMITTEE)
def mail_decide_move(slug: str, move_id: int, decision: str) -> View:
    """The second committee member approves (the link is sent) or refuses a moved link."""
    election = election_or_404(slug)
    if not DecideMoveForm().validate_on_submit():
        flash(_("Beslutet kunde inte sparas. Ladda om sidan och försök igen."), "error")
        return _page(election, status=400)
    approve = decision == "godkann"
    try:
        with db.transaction() as s:
            move = s.get(LinkMove, move_id)
            if move is None or move.election_id != election.id:
                raise VotingError(_("ingen sådan begäran"), code="no_pending_move")
            link_moves.decide(
                s, move_id, g.user.id, approve, clock.now(), _base_url(), _move_cutoff()
            )
    except VotingError as exc:
        message = (
            _("samma ledamot som bad om flytten kan inte godkänna den; en annan måste göra det")
            if exc.code == "same_person"
            else error_reason(exc)
        )
        flash(_("Beslutet kunde inte sparas: %(why)s", why=message), "error")
        return _page(election, status=409)
    if approve:
        flash(_("Godkänt: en ny röstlänk är köad till den nya adressen."), "success")
    else:
        flash(_("Avslaget: ingen röstlänk skickades."), "success")
    return redirect(url_for("admin.mail", slug=slug))
