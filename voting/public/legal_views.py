"""The accessibility statement and the privacy notice (public), and the committee's contact
details that the footer of every page shows."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app, render_template
from flask_babel import gettext as _

from voting.config import ConfigError
from voting.public.views import bp

# When the accessibility statement was last reviewed against the service; whoever changes what
# it says (the known shortcomings, the tests) sets the day anew.
STATEMENT_REVIEWED = date(2026, 12, 7)
# DIGG, the supervisory authority under the Swedish act on accessible digital public services:
# its page for reporting a service that does not answer a request about accessibility.
DIGG_REPORT_URL = "https://www.digg.se/tdosanmalan"
# IMY, the Swedish data protection authority, where a member may complain.
IMY_URL = "https://www.imy.se/"
# The one timezone a Swedish member need not be told the name of.
SWEDISH_TIMEZONE = "Europe/Stockholm"


def committee_contact() -> dict[str, Any]:
    """The committee's name, email and phone from the settings; an unset one is None."""
    config = current_app.config

    def setting(name: str) -> str | None:
        value = config.get(name)
        return str(value).strip() or None if value else None

    contact: dict[str, Any] = {
        "name": setting("COMMITTEE_CONTACT_NAME"),
        "email": setting("COMMITTEE_CONTACT_EMAIL"),
        "phone": setting("COMMITTEE_CONTACT_PHONE"),
    }
    # tel: wants the digits only (and a leading +); the page shows the number as written.
    phone = contact["phone"] or ""
    contact["tel"] = "".join(ch for ch in phone if ch.isdigit() or ch == "+") or None
    contact["demo"] = bool(config.get("DEMO"))
    return contact


@bp.app_context_processor
def _contact_context() -> dict[str, Any]:
    # Why a context processor: base.html's footer on every page, error pages included, needs
    # it; it reads settings only, so it works while the database is away.
    return {"committee_contact": committee_contact()}


@bp.app_template_filter("tz_label")
def tz_label(timezone: str) -> str:
    """How a time's zone is named to a reader: "svensk tid" for Sweden's, else its name."""
    if timezone == SWEDISH_TIMEZONE:
        return str(_("svensk tid"))
    return timezone


@bp.route("/tillganglighet", methods=["GET"])
def accessibility() -> str:
    """The accessibility statement, after DIGG's model for a tillgänglighetsredogörelse."""
    return render_template(
        "public/accessibility.html",
        reviewed=STATEMENT_REVIEWED,
        digg_url=DIGG_REPORT_URL,
    )


@bp.route("/personuppgifter", methods=["GET"])
def privacy() -> str:
    """The privacy notice: what is processed, why, on what legal basis, how long, the rights."""
    config = current_app.config
    return render_template(
        "public/privacy.html",
        controller=(str(config.get("PRIVACY_CONTROLLER") or "").strip() or None),
        retention_months=retention_months(config.get("PRIVACY_RETENTION_MONTHS")),
        imy_url=IMY_URL,
    )


def retention_months(value: object) -> int | None:
    """PRIVACY_RETENTION_MONTHS checked: a whole number of months from 1 up, or None if unset."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        # Why refuse rather than guess: the notice would promise members a wrong deletion date.
        raise ConfigError(
            f"PRIVACY_RETENTION_MONTHS must be a whole number of months, 1 or more; got {value!r}."
        )
    return value
