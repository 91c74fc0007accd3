"""Forms of the member-register pages (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import RadioField, SearchField, StringField
from wtforms.fields.choices import SelectChoice
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


class MemberLookupForm(FlaskForm):
    """The register search: one box for a name, an address, a personnummer or a member number.

    Why POST (with its CSRF token): a personnummer or a name in the query string would be kept
    in request logs and in the browser's history.
    """

    q = SearchField(
        _l("Namn, e-post, personnummer eller medlemsnummer"),
        validators=[DataRequired(_l("Skriv det du vill söka på.")), Length(max=200)],
        description=_l(
            "Ett eller flera ord ur namnet, en del av e-postadressen, ett helt personnummer "
            "(10 eller 12 siffror) eller ett medlemsnummer."
        ),
        render_kw={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"},
    )


class ChannelForm(FlaskForm):
    """How one member gets the vote (voting/members/channels.py)."""

    channel = RadioField(
        _l("Röstkanal"),
        choices=[
            SelectChoice("email", _l("E-post: en röstlänk i ett mejl")),
            SelectChoice("letter", _l("Brev: en personlig röstkod med posten")),
            SelectChoice("postal", _l("Poströst: en röstsedel på papper med posten")),
        ],
        validators=[DataRequired(message=_l("Välj en röstkanal."))],
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
