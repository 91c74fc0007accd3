"""The auditor's read-only pages (log, checkpoints, results) and the public checkpoints API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from voting import clock
from voting.audit.record import RecordNotReady, build_record
from voting.auth import GRANTS, Role, role_required
from voting.db import db, parse_id
from voting.elections.errors import ElectionNotFound
from voting.elections.services import get_election
from voting.errors import TransitionBlocked
from voting.lifecycle import results
from voting.lifecycle.tally import stored_result
from voting.log.checkpoints import checkpoint_json, checkpoints, log_key_json
from voting.log.models import AuditEntry
from voting.web import election_or_404, error_reason

bp = Blueprint("audit", __name__)

PAGE_SIZE = 100


@bp.route("/api/v1/elections/<slug>/checkpoints", methods=["GET"])
def checkpoints_api(slug: str) -> Response | tuple[Response, int]:
    """Every signed checkpoint of the election's log, with the log's public key (public)."""
    try:
        election = get_election(db.session, slug)
    except ElectionNotFound as exc:
        return jsonify(error="not_found", message=str(exc)), 404
    rows = checkpoints(db.session, election.slug)
    return jsonify(
        election=election.slug,
        **log_key_json(db.session, election.slug),
        checkpoints=[checkpoint_json(row) for row in rows],
    )


@bp.route("/api/v1/elections/<slug>/record", methods=["GET"])
def record_api(slug: str) -> Response | tuple[Response, int]:
    """The election record (docs/election-record.md) once the election is counted (public)."""
    try:
        election = get_election(db.session, slug)
        record = build_record(db.session, election)
    except (ElectionNotFound, RecordNotReady) as exc:
        return jsonify(error="not_found", message=str(exc)), 404
    response = jsonify(record)
    response.headers["Content-Disposition"] = f'attachment; filename="{election.slug}-record.json"'
    return response


def _entry_time(text: Any) -> datetime | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def readable_payload(data: Any) -> list[tuple[str, str]]:
    """An entry's data as (name, value) lines for a person: nested names joined with a dot,
    a list of plain values on one line, a list of objects numbered from 1."""
    lines: list[tuple[str, str]] = []

    def text(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, bool):
            return str(_("ja") if value else _("nej"))
        return str(value)

    def walk(name: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key in sorted(value):
                walk(f"{name}.{key}" if name else str(key), value[key])
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for i, item in enumerate(value, start=1):
                walk(f"{name} {i}", item)
        elif isinstance(value, list):
            lines.append((name, ", ".join(text(v) for v in value) if value else "–"))
        else:
            lines.append((name, "–" if value == {} else text(value)))

    walk("", data)
    return lines


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return parse_id(raw) or 1  # not int(): "²" passes isdigit() but int() refuses it


@bp.route("/audit/<slug>/log", methods=["GET"])
@role_required(Role.AUDITOR)
def log(slug: str) -> str:
    """The election's log, newest last, 100 entries a page, filterable by event type."""
    election = election_or_404(slug)
    types = list(
        db.session.scalars(
            select(AuditEntry.type)
            .where(AuditEntry.log == election.slug)
            .distinct()
            .order_by(AuditEntry.type)
        )
    )
    chosen = request.args.get("type", "")
    if chosen not in types:
        chosen = ""
    query = select(AuditEntry).where(AuditEntry.log == election.slug)
    if chosen:
        query = query.where(AuditEntry.type == chosen)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(_page_number(), pages)
    rows = db.session.scalars(
        query.order_by(AuditEntry.seq).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    )
    entries: list[dict[str, Any]] = []
    for row in rows:
        fields = json.loads(row.body)
        entries.append(
            {
                "seq": row.seq,
                "type": row.type,
                "time": _entry_time(fields.get("time")),
                "data": readable_payload(fields.get("data")),
                "hash": row.hash,
            }
        )
    return render_template(
        "audit/log.html",
        election=election,
        entries=entries,
        types=types,
        chosen=chosen,
        page=page,
        pages=pages,
        total=total,
        key=log_key_json(db.session, election.slug),
    )


@bp.route("/audit/<slug>/checkpoints", methods=["GET"])
@role_required(Role.AUDITOR)
def checkpoint_list(slug: str) -> str:
    """The signed checkpoints of the election's log."""
    election = election_or_404(slug)
    return render_template(
        "audit/checkpoints.html",
        election=election,
        checkpoints=[
            checkpoint_json(row) | {"at": row.created_at}
            for row in checkpoints(db.session, election.slug)
        ],
        key=log_key_json(db.session, election.slug),
    )


@bp.route("/audit/<slug>/resultat", methods=["GET"])
@role_required(Role.AUDITOR)
def results_page(slug: str) -> str:
    """The counted result, its hash in the log, and the record to download."""
    election = election_or_404(slug)
    result = stored_result(db.session, election)
    return render_template(
        "audit/results.html",
        election=election,
        result=result,
        kretsar=results.view_model(db.session, election, result) if result else [],
        results_hash=results.logged_results_hash(db.session, election),
        publication=results.publication(db.session, election),
        # The auditor only reads; the publish button is for the committee (and admins).
        may_publish=Role.COMMITTEE in GRANTS[Role(g.user.role)],
        key=log_key_json(db.session, election.slug),
    )


@bp.route("/audit/<slug>/resultat/publicera", methods=["POST"])
@role_required(Role.COMMITTEE)
def results_publish(slug: str) -> Response:
    """Publish the counted results (committee); the same as ``voting results publish``."""
    election = election_or_404(slug)
    try:
        with db.transaction() as session:
            results.publish_results(session, get_election(session, slug), clock.now(), by=g.user.id)
    except TransitionBlocked as exc:
        flash(_("Resultatet kunde inte publiceras: %(reason)s", reason=error_reason(exc)), "error")
    else:
        flash(_("Resultatet är publicerat."), "success")
    return redirect(url_for("audit.results_page", slug=election.slug))
