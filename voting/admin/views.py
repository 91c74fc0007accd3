"""The committee's web admin."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

from voting.auth import Role, role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str:
    return "login"


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    return redirect(url_for("public.index"))


@bp.route("/", methods=["GET"])
@role_required(Role.AUDITOR)
def dashboard() -> str:
    return "dashboard"
