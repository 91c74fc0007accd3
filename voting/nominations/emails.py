"""The nomination emails: plain text, Swedish first with an English paragraph below.

Each builder returns ``(subject, body)``. Subjects never contain anything a visitor typed, so
the questionnaire cannot be used to put words of a stranger's choosing in a subject line.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime

from voting.elections.models import Election

Mail = tuple[str, str]

SIGNATURE = "Valberedningen"


def _when(election: Election, moment: datetime) -> str:
    local = election.local(moment)
    return f"{local:%Y-%m-%d %H:%M} ({election.timezone})"


def _body(swedish: str, english: str) -> str:
    return f"{swedish.strip()}\n\n{SIGNATURE}\n\n-- In English --\n\n{english.strip()}\n"


def confirm_request(
    election: Election, link: str, expires_at: datetime, nominee_name: str, krets_name: str
) -> Mail:
    """Ask the nominator to confirm by opening the one-time link."""
    subject = f"Bekräfta din nominering – {election.title}"
    swedish = f"""
Hej!

Du har nominerat {nominee_name} ({krets_name}) i {election.title}.

Nomineringen gäller först när du har bekräftat den genom att öppna länken nedan.
Länken kan användas en gång och gäller till {_when(election, expires_at)}.

{link}

Har du inte skickat någon nominering kan du bortse från det här mejlet; då registreras
ingenting.
"""
    english = f"""
You nominated {nominee_name} ({krets_name}) in {election.title}. The nomination counts only
once you confirm it by opening the link above. It works once and is valid until
{_when(election, expires_at)}. If you did not send a nomination, ignore this email and nothing
will be registered.
"""
    return subject, _body(swedish, english)


@dataclass(frozen=True)
class Entered:
    """What the nominator typed, repeated in a refusal mail so that it can be corrected.

    Never the personnummer: a mail may be read by others in a household, and the one who typed
    it knows it already.
    """

    as_forening: bool
    forening_name: str | None
    first_name: str
    last_name: str
    identifier: str
    identifier_is_personnummer: bool
    motivation: str | None
    form_link: str


def _paragraph(text: str) -> str:
    """One paragraph wrapped at 72 characters (no word, such as a link, is broken)."""
    return textwrap.fill(" ".join(text.split()), 72, break_long_words=False)


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.strip().splitlines())


def _entered(entered: Entered) -> tuple[str, str]:
    """The typed values in Swedish and in English, with the link back to the form."""
    if entered.as_forening:
        as_sv = f"som kontaktperson för föreningen {entered.forening_name or ''}".rstrip()
        as_en = f"as the contact of the förening {entered.forening_name or ''}".rstrip()
    else:
        as_sv, as_en = "som enskild medlem", "as a member"
    name = f"{entered.first_name} {entered.last_name}"
    if entered.identifier_is_personnummer:
        id_sv, id_en = "Personnummer: (visas inte här)", "personnummer (not shown here)"
    else:
        id_sv, id_en = f"Medlemsnummer: {entered.identifier}", f"member ID {entered.identifier}"
    motivation = entered.motivation or ""
    swedish = f"""
Det här fyllde du i:

  Du nominerade: {as_sv}
  Den nominerade: {name}
  {id_sv}
  Motivering:{(chr(10) + _indented(motivation)) if motivation else " (ingen)"}

Fyll i formuläret igen här:
{entered.form_link}
"""
    english = f"You entered: nominating {as_en}; the nominee {name}, {id_en}."
    return swedish, english


def _refusal(election: Election, subject: str, why_sv: str, why_en: str, entered: Entered) -> Mail:
    typed_sv, typed_en = _entered(entered)
    # A one-paragraph reason is wrapped here; a longer one comes wrapped by hand.
    why = why_sv.strip() if "\n\n" in why_sv.strip() else _paragraph(why_sv)
    swedish = f"""
Hej!

Din nominering i {election.title} kunde inte registreras.

{why}
{typed_sv}
Har du inte fyllt i formuläret kan du bortse från det här mejlet; ingenting registrerades.
"""
    english = _paragraph(
        f"Your nomination in {election.title} could not be registered. {why_en} {typed_en} "
        "Fill in the form again at the link above. If you did not fill in the form, ignore "
        "this email; nothing was registered."
    )
    return subject, _body(swedish, english)


def nominator_unknown(election: Election, as_forening: bool, entered: Entered) -> Mail:
    """No nomination was registered: the address is not a member's, or not the förening's.

    Sent only to an address that is in the register (a member's or a förening's contact), so
    the questionnaire never mails strangers.
    """
    subject = f"Ingen nominering registrerades – {election.title}"
    if as_forening:
        why_sv = (
            "E-postadressen är inte registrerad som kontaktadress för den förening du valde. "
            "En förening kan bara nominera genom sin kontaktperson, från föreningens "
            "registrerade kontaktadress."
        )
        why_en = (
            "The address is not the registered contact address of the förening you chose; a "
            "förening nominates only through its contact."
        )
    else:
        why_sv = (
            "E-postadressen är inte registrerad för någon medlem. Som medlem nominerar du från "
            "den e-postadress som partiet har i medlemsregistret. Tror du att det är fel i "
            "registret, kontakta din förening eller valberedningen."
        )
        why_en = (
            "The address is not registered for any member. Members nominate from the address "
            "the party has on file."
        )
    return _refusal(election, subject, why_sv, why_en, entered)


def nominee_not_found(
    election: Election, as_forening: bool, krets_name: str, entered: Entered
) -> Mail:
    """The nominee is not a member of the nominator's krets, or could not be identified.

    One text for both, on purpose: telling them apart would tell the nominator whether the
    person they typed is a party member somewhere else (F7; membership is GDPR Art. 9 data).
    """
    subject = f"Nomineringen kunde inte registreras – {election.title}"
    who_sv = "förening" if as_forening else "medlem"
    who_en = "a förening" if as_forening else "a member"
    why_sv = f"""
Vi hittade ingen medlem i {krets_name} med de uppgifter du angav. Som {who_sv} kan du bara
nominera medlemmar i samma krets ({krets_name}), och medlemsnumret eller personnumret och
namnet måste stämma med medlemsregistret (förnamnet får vara ett av den nominerades förnamn).
"""
    why_en = f"""
We found no member of {krets_name} with the details you gave. As {who_en} you may nominate only
members of that krets, and the member ID or personnummer and the name must match the member
register.
"""
    return _refusal(election, subject, why_sv, why_en, entered)


def no_contest(election: Election, entered: Entered) -> Mail:
    """The nominee's krets elects no delegates in this election."""
    subject = f"Nomineringen kunde inte registreras – {election.title}"
    why_sv = "Den nominerades krets väljer inga ombud i det här valet."
    why_en = "The nominee's krets elects no delegates in this election."
    return _refusal(election, subject, why_sv, why_en, entered)


def nominee_unreachable(election: Election, entered: Entered) -> Mail:
    """The nominee has no email address in the register, so they cannot answer."""
    subject = f"Nomineringen kunde inte registreras – {election.title}"
    why_sv = (
        "Den nominerade har ingen e-postadress i medlemsregistret och kan därför inte tacka "
        "ja. Be den nominerade att lägga in sin e-postadress hos partiet, och nominera sedan "
        "igen."
    )
    why_en = (
        "The nominee has no email address in the member register and so cannot accept. Ask "
        "them to add one, then nominate again."
    )
    return _refusal(election, subject, why_sv, why_en, entered)


def nominee_invitation(
    election: Election, krets_name: str, link: str, expires_at: datetime
) -> Mail:
    """Tell the nominee they were nominated, with the link to accept or decline."""
    subject = f"Du har nominerats till kongressombud – {election.title}"
    swedish = f"""
Hej!

Du har nominerats som kandidat till kongressombud för {krets_name} i {election.title}.

Öppna länken nedan för att tacka ja eller nej. Tackar du ja kan du sedan skriva en
presentation av dig själv, med foto och länkar, som visas på kandidatlistan. Presentationen
kan ändras till och med {_when(election, election.nomination_closes)}, när nomineringen
stänger; sedan låses den för valberedningens granskning.

{link}

Länken gäller till {_when(election, expires_at)}. Den kan öppnas en gång; öppnar du den
igen i en annan webbläsare skickar vi en ny länk till den här adressen.
"""
    english = f"""
You have been nominated as a candidate for congress delegate for {krets_name} in
{election.title}. Open the link above to accept or decline; once you accept, the same link lets
you write your candidate presentation, which you can change until
{_when(election, election.nomination_closes)}, when nominations close. The link is valid until
{_when(election, expires_at)}.
"""
    return subject, _body(swedish, english)


def nominee_new_link(election: Election, link: str, expires_at: datetime) -> Mail:
    """A fresh nominee link, sent when the old one was opened again elsewhere."""
    subject = f"Ny länk till din kandidatsida – {election.title}"
    swedish = f"""
Hej!

Din länk till kandidatsidan i {election.title} hade redan använts, så här är en ny.
Den gäller till {_when(election, expires_at)} och kan öppnas en gång.

{link}

Har du inte bett om en ny länk kan du bortse från det här mejlet.
"""
    english = f"""
Your link to the candidate page in {election.title} had already been used, so here is a new one.
It works once and is valid until {_when(election, expires_at)}.
"""
    return subject, _body(swedish, english)
