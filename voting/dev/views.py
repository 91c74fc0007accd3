"""Registered only when the app runs in debug mode."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.route("/mail", methods=["GET"])
def mail() -> str:
    return "mail"
