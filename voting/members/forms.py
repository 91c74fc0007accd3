"""Forms of the member-register pages (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class MemberSearchForm(FlaskForm):
    """GET search by member ID; a query string carries no CSRF token (and changes nothing)."""

    class Meta:
        csrf = False

    member_id = StringField(
        _l("Medlemsnummer"),
        validators=[DataRequired(_l("Ange ett medlemsnummer.")), Length(max=40)],
        render_kw={"autocomplete": "off", "inputmode": "text", "autocapitalize": "none"},
    )


class CsvUploadForm(FlaskForm):
    file = FileField(
        _l("CSV-fil"),
        validators=[
            FileRequired(_l("Välj en CSV-fil.")),
            FileAllowed(["csv", "txt"], _l("Filen ska vara en CSV-fil (.csv).")),
        ],
        render_kw={"accept": ".csv,text/csv"},
    )
