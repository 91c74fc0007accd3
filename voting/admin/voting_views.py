"""The committee's voting-phase page: roll, voting links, reminders and sealing the board.

Every button calls the same service function as the ``voting roll|links|board`` CLI, inside one
transaction, so the web admin can do whatever the CLI does and nothing else. The page shows
counts only, never which member voted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from voting import clock
from voting.admin.views import bp
from voting.auth import Role, role_required
from voting.ballot import links, services
from voting.ballot.models import Ballot, BoardSeal, RollFreeze, VoterLink
from voting.ballot.unreachable import reach
from voting.db import db
from voting.elections.models import Contest, Election
from voting.errors import TransitionBlocked, VotingError
from voting.lifecycle.roll import freeze_roll, send_links
from voting.lifecycle.seal import seal_board
from voting.mail.models import MailStatus, OutboxMessage
from voting.members.models import Member
from voting.web import View, election_or_404, error_reason


class ConfirmForm(FlaskForm):
    """A state-changing button with a box to tick first (no JavaScript needed)."""

    confirm = BooleanField(
        _l("Jag har kontrollerat och vill fortsätta"),
        validators=[DataRequired(_l("Kryssa i rutan för att bekräfta."))],
    )


class MemberForm(FlaskForm):
    """A button that acts on one member, named by member ID."""

    member_id = StringField(
        _l("Medlemsnummer"),
        validators=[DataRequired(_l("Ange medlemsnumret.")), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )


# One form per button; each gets its name as prefix so that field ids are unique on the page.
FORMS: dict[str, type[FlaskForm]] = {
    "freeze": ConfirmForm,
    "send": ConfirmForm,
    "remind": ConfirmForm,
    "seal": ConfirmForm,
    "add": MemberForm,
    "resend": MemberForm,
}


def _forms() -> dict[str, FlaskForm]:
    return {name: cls(prefix=name) for name, cls in FORMS.items()}


def _counts_by_contest(session: Session, election: Election) -> dict[int, int]:
    # Counts only: a ballot row has no member, so nothing here can say who voted.
    return dict(
        session.execute(
            select(Ballot.contest_id, func.count())
            .join(Contest, Contest.id == Ballot.contest_id)
            .where(Contest.election_id == election.id)
            .group_by(Ballot.contest_id)
        ).all()
    )


def voting_status(session: Session, election: Election) -> dict[str, Any]:
    """Counts for the page: roll, signatures, ballots, links and mail, freeze and seal."""
    sizes = services.roll_sizes(session, election)
    issued = services.signatures_issued(session, election)
    ballots = _counts_by_contest(session, election)
    rows = [
        {
            "contest": c,
            "roll": sizes.get(c.id, 0),
            "issued": issued.get(c.id, 0),
            "ballots": ballots.get(c.id, 0),
        }
        for c in election.contests
    ]
    link_counts = dict(
        session.execute(
            select(VoterLink.revoked_at.is_(None), func.count())
            .where(VoterLink.election_id == election.id)
            .group_by(VoterLink.revoked_at.is_(None))
        ).all()
    )
    outbox = dict(
        session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.kind == "voter_link", OutboxMessage.election_id == election.id)
            .group_by(OutboxMessage.status)
        ).all()
    )
    return {
        "rows": rows,
        "totals": {k: sum(r[k] for r in rows) for k in ("roll", "issued", "ballots")},
        "freeze": session.get(RollFreeze, election.id),
        "seal": session.get(BoardSeal, election.id),
        "links_active": link_counts.get(True, 0),
        "links_revoked": link_counts.get(False, 0),
        "outbox": {s.value: outbox.get(s.value, 0) for s in MailStatus},
    }


def _page(election: Election, forms: dict[str, FlaskForm], status: int = 200) -> View:
    now = clock.now()
    return render_template(
        "admin/voting.html",
        election=election,
        now=now,
        closed=now > election.voting_closes,
        status=voting_status(db.session, election),
        forms=forms,
    ), status


@bp.route("/val/<slug>/rostning", methods=["GET"])
@role_required(Role.AUDITOR)
def voting(slug: str) -> View:
    """The voting phase of one election: counts for everyone, buttons for the committee."""
    return _page(election_or_404(slug), _forms())


Action = Callable[[Session, Election, datetime, FlaskForm], str]


def _act(slug: str, name: str, failure: str, action: Action) -> View:
    """Validate the form, run ``action`` in one transaction; flash the outcome.

    On success: redirect back to the page. On an error: the page again with the reason, and
    nothing written (the transaction is rolled back whole).
    """
    election = election_or_404(slug)
    forms = _forms()
    form = forms[name]
    if not form.validate_on_submit():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        flash(f"{failure}: {errors}", "error")
        return _page(election, forms, 400)
    try:
        with db.transaction() as s:
            message = action(s, election, clock.now(), form)
    except VotingError as exc:
        flash(f"{failure}: {error_reason(exc)}", "error")
        return _page(election, forms, 409 if isinstance(exc, TransitionBlocked) else 400)
    except IntegrityError:
        # Two clicks at once: the database's unique constraints let only one through.
        flash(
            f"{failure}: " + _("någon annan gjorde samma sak samtidigt; se läget nedan."), "error"
        )
        return _page(election, forms, 409)
    flash(message, "success")
    return redirect(url_for("admin.voting", slug=slug))


def _member(session: Session, form: FlaskForm) -> Member:
    member_id = (form.member_id.data or "").strip()
    member = session.get(Member, member_id)
    if member is None:
        form.member_id.errors = [_("Ingen medlem har numret %(id)s.", id=member_id)]
        raise VotingError(_("Medlemsnummer: ingen medlem med numret %(id)s", id=member_id))
    return member


def _base_url() -> str:
    return str(current_app.config["BASE_URL"])


@bp.route("/val/<slug>/rostning/frys", methods=["POST"])
@role_required(Role.COMMITTEE)
def voting_freeze(slug: str) -> View:
    """``voting roll freeze``: put the register's members on the roll now."""

    def run(s: Session, election: Election, now: datetime, form: FlaskForm) -> str:
        total = sum(freeze_roll(s, election, now, by=g.user.id).values())
        return str(
            ngettext(
                "Röstlängden är fryst: %(num)s medlem.",
                "Röstlängden är fryst: %(num)s medlemmar.",
                total,
            )
        )

    return _act(slug, "freeze", _("Röstlängden kunde inte frysas"), run)


@bp.route("/val/<slug>/rostning/lagg-till", methods=["POST"])
@role_required(Role.COMMITTEE)
def voting_add_to_roll(slug: str) -> View:
    """``voting roll add``: add one member to the frozen roll (logged)."""

    def run(s: Session, election: Election, now: datetime, form: FlaskForm) -> str:
        member = _member(s, form)
        services.add_to_roll(s, election, member, now, by=g.user.id)
        return str(
            _(
                "Medlem %(id)s är tillagd i röstlängden. Skicka en röstlänk till hen nedan.",
                id=member.member_id,
            )
        )

    return _act(slug, "add", _("Medlemmen kunde inte läggas till"), run)


@bp.route("/val/<slug>/rostning/skicka-lankar", methods=["POST"])
@role_required(Role.COMMITTEE)
def voting_send_links(slug: str) -> View:
    """``voting links send``: a link to everyone on the roll without one (freezes if needed)."""

    def run(s: Session, election: Election, now: datetime, form: FlaskForm) -> str:
        count = send_links(s, election, now, _base_url(), by=g.user.id)
        message = str(
            ngettext(
                "%(num)s röstlänk är köad i utkorgen.",
                "%(num)s röstlänkar är köade i utkorgen.",
                count,
            )
        )
        unreachable = reach(s, election).unreachable
        if unreachable:
            message += " " + str(
                ngettext(
                    "%(num)s medlem i röstlängden har ingen användbar e-postadress och får inget "
                    "brev; se sidan E-post.",
                    "%(num)s medlemmar i röstlängden har ingen användbar e-postadress och får "
                    "inget brev; se sidan E-post.",
                    unreachable,
                )
            )
        return message

    return _act(slug, "send", _("Röstlänkarna kunde inte skickas"), run)


@bp.route("/val/<slug>/rostning/paminn", methods=["POST"])
@role_required(Role.COMMITTEE)
def voting_remind(slug: str) -> View:
    """``voting links remind``: a fresh link to those on the roll who have not voted."""

    def run(s: Session, election: Election, now: datetime, form: FlaskForm) -> str:
        count = links.remind(s, election, now, _base_url(), by=g.user.id)
        return str(
            ngettext(
                "%(num)s påminnelse är köad i utkorgen.",
                "%(num)s påminnelser är köade i utkorgen.",
                count,
            )
        )

    return _act(slug, "remind", _("Påminnelserna kunde inte skickas"), run)


@bp.route("/val/<slug>/rostning/ny-lank", methods=["POST"])
@role_required(Role.COMMITTEE)
def voting_resend(slug: str) -> View:
    """``voting links resend``: revoke a member's link and mail a new one."""

    def run(s: Session, election: Election, now: datetime, form: FlaskForm) -> str:
        member = _member(s, form)
        links.resend_link(s, election, member, now, _base_url(), by=g.user.id)
        return str(
            _(
                "En ny röstlänk till medlem %(id)s är köad; den gamla fungerar inte längre.",
                id=member.member_id,
            )
        )

    return _act(slug, "resend", _("Ingen ny röstlänk kunde skickas"), run)


@bp.route("/val/<slug>/rostning/forsegla", methods=["POST"])
@role_required(Role.COMMITTEE)
def voting_seal(slug: str) -> View:
    """``voting board seal``: after the close, log each contest's board hash and counts."""

    def run(s: Session, election: Election, now: datetime, form: FlaskForm) -> str:
        data = seal_board(s, election, now, by=g.user.id)
        total = sum(c["ballots"] for c in data["contests"])
        return str(
            ngettext(
                "Anslagstavlan är förseglad i granskningsloggen: %(num)s röstsedel.",
                "Anslagstavlan är förseglad i granskningsloggen: %(num)s röstsedlar.",
                total,
            )
        )

    return _act(slug, "seal", _("Anslagstavlan kunde inte förseglas"), run)
