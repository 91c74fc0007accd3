"""Public pages anyone may read."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from sqlalchemy import text

from voting.db import db
from voting.elections.services import list_elections

bp = Blueprint("public", __name__)


@bp.route("/", methods=["GET"])
def index() -> str:
    elections = list_elections(db.session)
    return render_template(
        "public/index.html", elections=elections, now=current_app.config["CLOCK"]()
    )


@bp.route("/healthz", methods=["GET"])
def healthz() -> tuple[dict[str, str], int]:
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}, 200
