"""Public pages anyone may read."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from flask import Blueprint, abort, current_app, render_template
from flask_babel import format_decimal
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from voting import OUTAGE_ERRORS, clock
from voting.ballot import services
from voting.config import ConfigError, check_secrets
from voting.db import MIGRATIONS, db
from voting.elections.errors import ElectionNotFound
from voting.elections.models import Contest
from voting.elections.services import get_election, list_elections
from voting.extensions import limiter
from voting.lifecycle import results

bp = Blueprint("public", __name__)


@bp.app_template_filter("percent_number")
def percent_number(value: object) -> str:
    """A percentage such as the tally's turnout "9.5" in the reader's locale: "9,5" in Swedish.

    Why Decimal: the tally gives the exact one-decimal string; a float could round it anew.
    """
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return str(format_decimal(number, format="#,##0.0"))


@bp.route("/", methods=["GET"])
def index() -> str:
    elections = list_elections(db.session)
    # The same test as the results page itself: a link only where that page answers.
    published = {e.id for e in elections if results.publication(db.session, e) is not None}
    return render_template(
        "public/index.html",
        elections=elections,
        results_published=published,
        now=clock.now(),
    )


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except OUTAGE_ERRORS:
        db.session.rollback()
        return False
    return True


@bp.route("/healthz", methods=["GET"])
def healthz() -> tuple[dict[str, str], int]:
    """Alive: the process answers and reaches its database."""
    if not _database_ok():
        return {"status": "unavailable"}, 503
    return {"status": "ok"}, 200


@cache
def _migration_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def _migrations_ok() -> bool:
    try:
        versions = db.session.scalars(text("SELECT version_num FROM alembic_version")).all()
    except sa_exc.DBAPIError:  # no alembic_version table: never migrated
        db.session.rollback()
        return False
    return frozenset(versions) == _migration_heads()


def _secrets_ok() -> bool:
    try:
        check_secrets(current_app.config)
    except ConfigError:
        return False
    return True


def _rate_limit_storage_ok() -> bool:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    try:
        return bool(limiter.storage.check())
    except Exception:  # noqa: BLE001 - any failure of the storage means "not ready"
        return False


@bp.route("/readyz", methods=["GET"])
def readyz() -> tuple[dict[str, Any], int]:
    """Ready to serve: database reachable and migrated to head, secrets set, rate-limit storage.

    Only check names and ok/fail are shown: the reasons go nowhere a visitor can read them.
    """
    checks = {"database": _database_ok()}
    checks["migrations"] = checks["database"] and _migrations_ok()
    checks["secrets"] = _secrets_ok()
    checks["rate_limit_storage"] = _rate_limit_storage_ok()
    ready = all(checks.values())
    if not ready:
        failing = ", ".join(name for name, ok in checks.items() if not ok)
        current_app.logger.warning("not ready: %s", failing)
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: "ok" if ok else "fail" for name, ok in checks.items()},
    }
    return body, 200 if ready else 503


def _choices(ballot: str, names: dict[str, str]) -> list[str]:
    """The candidate names a stored (already verified) canonical ballot chose."""
    try:
        ids = json.loads(ballot)["choices"]
    except (ValueError, KeyError, TypeError):
        return []
    return sorted((names.get(str(i), str(i)) for i in ids), key=str.casefold)


@bp.route("/val/<slug>/anslagstavla", methods=["GET"])
def board(slug: str) -> tuple[str, int]:
    """The ballot board: hashes while voting is open, ballots with names after the close."""
    try:
        election = get_election(db.session, slug)
    except ElectionNotFound:
        abort(404)
    now = clock.now()
    data = services.board(db.session, election, now)
    contests: dict[str, Contest] = {str(c.id): c for c in election.contests}
    kretsar: list[dict[str, Any]] = []
    for entry in data["contests"]:
        contest = contests[entry["id"]]
        item: dict[str, Any] = {"contest": contest, **entry}
        if "ballots" in entry:
            names = {
                str(n.id): n.member.full_name
                for n in services.published_candidates(db.session, contest)
            }
            item["rows"] = [
                {"hash": b["ballot_hash"], "choices": _choices(b["ballot"], names)}
                for b in entry["ballots"]
            ]
            item["hashes"] = [b["ballot_hash"] for b in entry["ballots"]]
        else:
            item["hashes"] = entry["ballot_hashes"]
        kretsar.append(item)

    # Why no lookup here: a receipt check sent to the server (the old GET ?hash=) is a request
    # carrying the voter's cookie and their ballot's hash, and its URL lands in logs and in the
    # browser's history (F3, F13). The page's script looks the hash up among those shown.
    return render_template(
        "public/board.html",
        election=election,
        board=data,
        kretsar=kretsar,
        now=now,
    ), 200


# Registers the results routes, the voter-code check, the accessibility statement and the
# privacy notice.
from voting.public import check_views, legal_views, results_views  # noqa: E402,F401
