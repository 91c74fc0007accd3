"""Forms of the web admin (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from voting.nominations.review import MAX_REASON_LENGTH

# Room for many reminders; the service judges the items.
MAX_REMINDERS_LENGTH = 200

# Seconds included: an election file may say 23:59:59, and saving the form unchanged must not
# move that to 23:59:00.
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]


class LoginForm(FlaskForm):
    email = EmailField(
        _l("E-postadress"),
        validators=[DataRequired(_l("Ange din e-postadress.")), Length(max=320)],
        render_kw={"autocomplete": "username", "autocapitalize": "none"},
    )
    password = PasswordField(
        _l("Lösenord"),
        validators=[DataRequired(_l("Ange ditt lösenord.")), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        _l("Kod från autentiseringsappen"),
        validators=[
            DataRequired(_l("Ange den sexsiffriga koden.")),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Koden är sex siffror.")),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "pattern": r"[0-9 ]{6,7}",
            "maxlength": "7",
        },
    )
    next = HiddenField()


class ActionForm(FlaskForm):
    """A button that changes state: only the CSRF token."""


class PublishForm(FlaskForm):
    """Publishing locks the candidate lists for good: a box to tick first, as for the roll."""

    confirm = BooleanField(
        _l("Jag har kontrollerat och vill fortsätta"),
        validators=[DataRequired(_l("Kryssa i rutan för att bekräfta."))],
    )
    # Shown only when some krets would hold no vote; the service refuses without it then.
    confirm_no_vote = BooleanField(_l("Jag har sett att kretsarna ovan inte får någon omröstning"))


class RejectForm(FlaskForm):
    reason = TextAreaField(
        _l("Skäl till avslaget"),
        validators=[
            DataRequired(_l("Ange ett skäl. Det skickas till den nominerade.")),
            Length(max=MAX_REASON_LENGTH, message=_l("Högst %(max)d tecken.")),
        ],
        description=_l("Skälet mejlas till den nominerade och sparas hos nomineringen."),
        render_kw={"maxlength": str(MAX_REASON_LENGTH)},
    )


class ElectionUploadForm(FlaskForm):
    file = FileField(
        _l("Valfil (TOML)"),
        validators=[FileRequired(_l("Välj en valfil."))],
        description=_l("Samma format som för kommandot voting election create."),
        render_kw={"accept": ".toml,application/toml,text/plain"},
    )


class ScheduleForm(FlaskForm):
    nomination_opens = DateTimeLocalField(
        _l("Nomineringen öppnar"),
        format=LOCAL_FORMATS,
        validators=[InputRequired(_l("Ange en tidpunkt."))],
        render_kw={"step": "1"},
    )
    nomination_closes = DateTimeLocalField(
        _l("Nomineringen stänger"),
        format=LOCAL_FORMATS,
        validators=[InputRequired(_l("Ange en tidpunkt."))],
        render_kw={"step": "1"},
    )
    voting_opens = DateTimeLocalField(
        _l("Röstningen öppnar"),
        format=LOCAL_FORMATS,
        validators=[InputRequired(_l("Ange en tidpunkt."))],
        render_kw={"step": "1"},
    )
    voting_closes = DateTimeLocalField(
        _l("Röstningen stänger"),
        format=LOCAL_FORMATS,
        validators=[InputRequired(_l("Ange en tidpunkt."))],
        render_kw={"step": "1"},
    )
    reminders = StringField(
        _l("Påminnelser (timmar före stängning)"),
        validators=[
            Optional(),
            Length(max=MAX_REMINDERS_LENGTH, message=_l("Högst %(max)d tecken.")),
        ],
        description=_l(
            "Timmar före röstningens stängning, åtskilda med kommatecken, t.ex. 72, 24 "
            "(dagar går också: 3d, 1d). Varje påminnelse måste infalla efter att röstningen "
            "öppnat. Lämna tomt för inga påminnelser."
        ),
        render_kw={
            "maxlength": str(MAX_REMINDERS_LENGTH),
            "autocomplete": "off",
            "spellcheck": "false",
        },
    )
    sign_in = SelectField(
        _l("Så loggar väljarna in"),
        choices=[
            SelectChoice("link", _l("Röstlänk via e-post")),
            SelectChoice("eid", _l("E-legitimation (BankID eller Freja eID), utan röstlänk")),
            SelectChoice("link+eid", _l("Röstlänk via e-post och sedan e-legitimation")),
        ],
        # The service judges the value; a POST without the field leaves the mode as it is.
        validate_choice=False,
        validators=[Optional()],
        description=_l(
            "Kan ändras tills röstningen öppnar. Med e-legitimation behövs en anslutning till en "
            "e-legitimationstjänst (se driftsguiden)."
        ),
    )
