"""The committee's pages for the member register: look up a member, import members and föreningar.

Personal data: committee (and admin) only; the auditor role does not see the register.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
)
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from voting.auth import Role, role_required
from voting.db import db
from voting.members.errors import MemberNotFound, RegisterImportError
from voting.members.forms import CsvUploadForm, MemberSearchForm
from voting.members.importing import ImportResult, import_foreningar, import_members
from voting.members.models import Forening, Krets, Member
from voting.members.services import get_member, list_foreningar, member_summary

bp = Blueprint("members", __name__, url_prefix="/admin/members")

View = str | Response | tuple[str, int]
# A register of 100,000 members is about 9 MB of CSV; the app-wide limit is sized for photos.
DEFAULT_IMPORT_MAX_BYTES = 32 * 1024 * 1024
IMPORT_ENDPOINTS = {"members.import_members_page", "members.import_foreningar_page"}


def _now() -> datetime:
    return current_app.config["CLOCK"]()


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


@bp.route("", methods=["GET"])
@role_required(Role.COMMITTEE)
def index() -> View:
    """Search the register by member ID; the personnummer is shown masked."""
    form = MemberSearchForm(formdata=request.args if "member_id" in request.args else None)
    found: dict[str, Any] | None = None
    not_found = False
    s = db.session
    if "member_id" in request.args and form.validate():
        try:
            found = member_summary(s, get_member(s, form.member_id.data or ""))
        except MemberNotFound:
            not_found = True
    per_krets = s.execute(
        select(Krets.code, Krets.name, func.count(Member.member_id))
        .outerjoin(Member, Member.krets_code == Krets.code)
        .group_by(Krets.code, Krets.name)
        .order_by(Krets.name)
    ).all()
    foreningar = s.scalar(select(func.count(Forening.id)))
    status = 404 if not_found else 200
    return render_template(
        "members/index.html",
        form=form,
        member=found,
        not_found=not_found,
        per_krets=per_krets,
        total=sum(row[2] for row in per_krets),
        foreningar=foreningar,
    ), status


def _upload(form: CsvUploadForm, importer: Any, template: str, **context: Any) -> View:
    errors = None
    if form.validate_on_submit():
        data = form.file.data.read()
        try:
            with db.transaction() as s:
                result = importer(s, data, _now())
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
