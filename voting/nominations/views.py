"""The public questionnaire, the confirmation link and the nominee's pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("nominations", __name__)


@bp.route("/val/<slug>/nominera", methods=["GET", "POST"])
def form(slug: str) -> str:
    return "form"


@bp.route("/val/<slug>/kandidater", methods=["GET"])
def candidates(slug: str) -> str:
    return "candidates"
