"""The questionnaire and the nominee's forms. They check formats only, never the register."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from email_validator import EmailNotValidError
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from voting import clock
from voting.members.errors import PersonnummerError
from voting.members.pnr import parse_personnummer
from voting.members.services import normalize_email
from voting.nominations.errors import PresentationInvalid
from voting.nominations.rules import (
    MOTIVATION_MAX,
    PRESENTATION_MAX,
    complete_link,
    link_problem,
    looks_like_personnummer,
)
from voting.text import forbidden_in_line, forbidden_in_text
from voting.web import say

try:  # WTForms >= 3.3 deprecates (value, label) tuples in favour of SelectChoice.
    from wtforms import SelectChoice as _choice
except ImportError:  # pragma: no cover - older WTForms

    def _choice(value: str, label: Any) -> Any:
        return (value, label)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value.strip()) if isinstance(value, str) else value


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def one_line(form: FlaskForm, field: Any) -> None:
    """A single-line field may hold no control characters, line breaks or bidi controls."""
    # Control characters break some databases (PostgreSQL refuses NUL) and can hide text in
    # mails; bidi controls can make a name read as another (voting/text.py).
    if field.data and forbidden_in_line(field.data):
        raise ValidationError(_l("Fältet innehåller otillåtna tecken."))


def plain_text(form: FlaskForm, field: Any) -> None:
    """A text area may hold line breaks, but no other control characters or bidi overrides."""
    if field.data and forbidden_in_text(field.data):
        raise ValidationError(_l("Texten innehåller otillåtna tecken."))


def email_address(form: FlaskForm, field: Any) -> None:
    """Syntax only (no DNS look-up); normalised exactly as the register stores addresses."""
    try:
        # Why no deliverability check: it would make the page's answer depend on DNS, and slow.
        field.data = normalize_email(field.data or "")
    except EmailNotValidError as exc:
        raise ValidationError(_l("Ange en giltig e-postadress.")) from exc


def member_id_or_personnummer(form: FlaskForm, field: Any) -> None:
    """Accept a member ID as typed, or a personnummer whose date and check digit are right."""
    text = field.data or ""
    if looks_like_personnummer(text):
        try:
            parse_personnummer(text, clock.now())
        except PersonnummerError as exc:
            raise ValidationError(say(exc)) from exc
        return
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9\-_/.]{0,39}", text):
        raise ValidationError(
            _l("Ange ett medlemsnummer (bokstäver och siffror) eller ett personnummer.")
        )


def http_link(form: FlaskForm, field: Any) -> None:
    """An absolute http or https URL with a host, without spaces, credentials or controls."""
    problem = link_problem(field.data) if field.data else None
    if problem is not None:
        raise ValidationError(say(PresentationInvalid.coded(problem, field="links")))


class NominationForm(FlaskForm):
    """The district's nomination questionnaire."""

    nominator_email = StringField(
        _l("Din e-postadress"),
        filters=[_strip],
        validators=[DataRequired(_l("Ange din e-postadress.")), Length(max=320), email_address],
    )
    # Why preselected: most nominators are members, and then the förening question (shown
    # only for the second choice) is never in their way.
    nominating_as = RadioField(
        _l("Jag nominerar"),
        choices=[
            _choice("member", _l("som enskild medlem")),
            _choice("forening", _l("som kontaktperson för en förening")),
        ],
        default="member",
        validate_choice=False,
        validators=[
            InputRequired(_l("Välj hur du nominerar.")),
            AnyOf(["member", "forening"], message=_l("Välj hur du nominerar.")),
        ],
    )
    # Rendered by hand (a blank first option, then one <optgroup> per krets); checked below.
    forening_id = SelectField(_l("Förening"), coerce=_int_or_none, validate_choice=False)
    nominee_first_name = StringField(
        _l("Den nominerades förnamn"),
        filters=[_nfc],
        validators=[
            DataRequired(_l("Ange den nominerades förnamn.")),
            Length(max=200, message=_l("Högst %(max)d tecken.")),
            one_line,
        ],
    )
    nominee_last_name = StringField(
        _l("Den nominerades efternamn"),
        filters=[_nfc],
        validators=[
            DataRequired(_l("Ange den nominerades efternamn.")),
            Length(max=200, message=_l("Högst %(max)d tecken.")),
            one_line,
        ],
    )
    nominee_identifier = StringField(
        _l("Den nominerades medlemsnummer eller personnummer"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Ange medlemsnummer eller personnummer.")),
            Length(max=40, message=_l("Högst %(max)d tecken.")),
            member_id_or_personnummer,
        ],
    )
    # No "has the nominee been asked?" question: the nominee is always mailed and answers for
    # themself, so the nominator's answer changed nothing (issue 14, item 6).
    motivation = TextAreaField(
        _l("Motivering (frivillig)"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=MOTIVATION_MAX, message=_l("Högst %(max)d tecken.")),
            plain_text,
        ],
    )
    submit = SubmitField(_l("Skicka nomineringen"))

    def __init__(self, *args: Any, forening_ids: frozenset[int] = frozenset(), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.forening_ids = forening_ids

    def validate_forening_id(self, field: Any) -> None:
        if self.nominating_as.data != "forening":
            field.data = None
            return
        if field.data not in self.forening_ids:
            raise ValidationError(_l("Välj vilken förening du nominerar tillsammans med."))


class AnswerForm(FlaskForm):
    """The nominee's answer: two submit buttons; declining takes a second, confirming press."""

    accept = SubmitField(_l("Ja, jag ställer upp"))
    decline = SubmitField(_l("Nej, jag tackar nej"))
    # Set only by the confirmation page: a decline cannot be undone, so it is asked twice.
    decline_confirmed = HiddenField()


class PresentationForm(FlaskForm):
    """The candidate presentation: text, an optional photo and up to three links."""

    text = TextAreaField(
        _l("Presentation"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=PRESENTATION_MAX, message=_l("Högst %(max)d tecken.")),
            plain_text,
        ],
    )
    photo = FileField(_l("Foto (JPEG eller PNG, högst 2 MB)"))
    # A photo sent with a form that had errors, kept until the next save (views.py).
    pending_photo = HiddenField()
    # A checkbox, not a second button: the form's only button saves, so Enter in a text field
    # can never remove the photo, and removing looks nothing like saving.
    remove_photo = BooleanField(_l("Ta bort det nuvarande fotot"))
    link_1 = StringField(
        _l("Länk 1"), filters=[_strip, complete_link], validators=[Optional(), http_link]
    )
    link_2 = StringField(
        _l("Länk 2"), filters=[_strip, complete_link], validators=[Optional(), http_link]
    )
    link_3 = StringField(
        _l("Länk 3"), filters=[_strip, complete_link], validators=[Optional(), http_link]
    )
    save = SubmitField(_l("Spara presentationen"))

    @property
    def links(self) -> list[str]:
        return [f.data for f in (self.link_1, self.link_2, self.link_3) if f.data]
