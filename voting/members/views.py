"""The committee's pages for the member register: look up a member, import members and föreningar.

Personal data: committee (and admin) only; the auditor role does not see the register.
"""

from __future__ import annotations

from typing import Any

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
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from voting import clock
from voting.auth import Role, role_required
from voting.db import db
from voting.members.channels import set_channel
from voting.members.errors import MemberNotFound, RegisterError, RegisterImportError
from voting.members.forms import ChannelForm, CsvUploadForm, MemberLookupForm, MemberSearchForm
from voting.members.importing import ImportResult, import_foreningar, import_members
from voting.members.models import Forening, Krets, Member
from voting.members.search import search_members
from voting.members.services import get_member, list_foreningar, member_summary
from voting.web import say

bp = Blueprint("members", __name__, url_prefix="/admin/members")

View = str | Response | tuple[str, int]
# A register of 100,000 members is about 9 MB of CSV; the app-wide limit is sized for photos.
DEFAULT_IMPORT_MAX_BYTES = 32 * 1024 * 1024
IMPORT_ENDPOINTS = {"members.import_members_page", "members.import_foreningar_page"}


@bp.url_value_preprocessor
def _raise_upload_limit(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # Runs before the CSRF check reads the body. Why only with a signed staff session: the
    # larger limit is for the committee's register files, not for anonymous request bodies.
    if endpoint in IMPORT_ENDPOINTS and isinstance(session.get("staff_uid"), int):
        request.max_content_length = current_app.config.get(
            "MEMBER_IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX_BYTES
        )


def _counts_message(result: ImportResult) -> str:
    return str(
        _(
            "Importen är klar: %(rows)s rader, %(inserted)s nya, %(updated)s ändrade, "
            "%(unchanged)s oförändrade.",
            rows=result.rows,
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
        )
    )


def _register_page(status: int, **context: Any) -> tuple[str, int]:
    """The register page: the search, what it found, and the counts per krets."""
    s = db.session
    per_krets = s.execute(
        select(Krets.code, Krets.name, func.count(Member.member_id))
        .outerjoin(Member, Member.krets_code == Krets.code)
        .group_by(Krets.code, Krets.name)
        .order_by(Krets.name)
    ).all()
    context.setdefault("search_form", MemberLookupForm())
    member = context.get("member")
    if member is not None:
        context.setdefault("channel_form", ChannelForm(data={"channel": member["channel"]}))
    return render_template(
        "members/index.html",
        per_krets=per_krets,
        total=sum(row[2] for row in per_krets),
        foreningar=s.scalar(select(func.count(Forening.id))),
        **context,
    ), status


@bp.route("", methods=["GET"])
@role_required(Role.COMMITTEE)
def index() -> View:
    """The register; ``?member_id=`` shows one member, the personnummer masked."""
    form = MemberSearchForm(formdata=request.args if "member_id" in request.args else None)
    found: dict[str, Any] | None = None
    not_found = False
    s = db.session
    if "member_id" in request.args and form.validate():
        try:
            found = member_summary(s, get_member(s, form.member_id.data or ""))
        except MemberNotFound:
            not_found = True
    return _register_page(404 if not_found else 200, form=form, member=found, not_found=not_found)


@bp.route("/sok", methods=["POST"])
@role_required(Role.COMMITTEE)
def search() -> View:
    """Search by name, email, personnummer (through its keyed hash) or member number."""
    form = MemberLookupForm()
    if not form.validate_on_submit():
        return _register_page(400, search_form=form)
    s = db.session
    result = search_members(s, form.q.data or "", clock.now().date())
    found = member_summary(s, result.members[0]) if len(result.members) == 1 else None
    status = 400 if result.invalid_personnummer else 200
    return _register_page(status, search_form=form, result=result, member=found)


@bp.route("/<member_id>/kanal", methods=["POST"])
@role_required(Role.COMMITTEE)
def set_channel_page(member_id: str) -> View:
    """Set one member's voting channel; refused (with the reason) where it cannot reach them."""
    s = db.session
    try:
        member = get_member(s, member_id)
    except MemberNotFound:
        abort(404)
    form = ChannelForm()
    if form.validate_on_submit():
        try:
            with db.transaction() as t:
                set_channel(t, member_id, form.channel.data or "", clock.now(), by=g.user.id)
        except RegisterError as exc:
            form.channel.errors = [say(exc)]
        else:
            flash(_("Röstkanalen är ändrad."), "success")
            return redirect(url_for("members.index", member_id=member_id))
    found = member_summary(s, s.merge(member))
    return _register_page(400, member=found, channel_form=form)


def _upload(form: CsvUploadForm, importer: Any, template: str, **context: Any) -> View:
    errors = None
    if form.validate_on_submit():
        data = form.file.data.read()
        try:
            with db.transaction() as s:
                result = importer(s, data, clock.now(), by=g.user.id)
        except RegisterImportError as exc:
            errors = exc.errors
        else:
            flash(_counts_message(result), "success")
            return redirect(request.path)
    status = 400 if request.method == "POST" else 200
    return render_template(template, form=form, errors=errors, **context), status


@bp.route("/import", methods=["GET", "POST"])
@role_required(Role.COMMITTEE)
def import_members_page() -> View:
    """Upload the member CSV: every error listed with row and field, or the counts."""
    return _upload(CsvUploadForm(), import_members, "members/import.html")


@bp.route("/foreningar/import", methods=["GET", "POST"])
@role_required(Role.COMMITTEE)
def import_foreningar_page() -> View:
    """Upload the förening CSV (name,krets,contact_email)."""
    return _upload(
        CsvUploadForm(),
        import_foreningar,
        "members/foreningar_import.html",
        foreningar=list_foreningar(db.session),
    )
