"""The nomination emails: plain text, Swedish first with an English paragraph below.

Each builder returns ``(subject, body)``. Subjects never contain anything a visitor typed, so
the questionnaire cannot be used to put words of a stranger's choosing in a subject line.
"""

from __future__ import annotations

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


def nominator_unknown(election: Election, as_forening: bool) -> Mail:
    """No nomination was registered: the address is not a member's, or not the förening's."""
    subject = f"Ingen nominering registrerades – {election.title}"
    if as_forening:
        why_sv = (
            "E-postadressen är inte registrerad som kontaktadress för den förening du valde. "
            "En förening kan bara nominera genom sin kontaktperson."
        )
        why_en = (
            "The address is not the registered contact address of the förening you chose; a "
            "förening nominates only through its contact."
        )
    else:
        why_sv = (
            "E-postadressen finns inte i medlemsregistret. Bara medlemmar kan nominera, och de "
            "måste använda den e-postadress som är registrerad hos partiet."
        )
        why_en = (
            "The address is not in the member register. Only members may nominate, using the "
            "address the party has on file."
        )
    swedish = f"""
Hej!

Någon har fyllt i nomineringsformuläret för {election.title} med den här e-postadressen.
Ingen nominering registrerades.

{why_sv}

Tror du att det är fel i registret, kontakta din förening eller valberedningen. Har du inte
fyllt i formuläret kan du bortse från det här mejlet.
"""
    english = f"""
Someone filled in the nomination form for {election.title} with this address. No nomination was
registered. {why_en} If you did not fill in the form, ignore this email.
"""
    return subject, _body(swedish, english)


def nominee_not_identified(election: Election) -> Mail:
    """The nominee's member ID or personnummer and name did not match one member."""
    subject = f"Nomineringen kunde inte registreras – {election.title}"
    swedish = f"""
Hej!

Din nominering i {election.title} kunde inte registreras: vi kunde inte identifiera den
nominerade i medlemsregistret. Medlemsnumret eller personnumret och namnet måste stämma med
registret (förnamnet får vara ett av den nominerades förnamn).

Kontrollera uppgifterna och fyll i formuläret igen.
"""
    english = f"""
Your nomination in {election.title} could not be registered: the nominee could not be identified
in the member register. The member ID or personnummer and the name must match the register.
Check them and fill in the form again.
"""
    return subject, _body(swedish, english)


def krets_mismatch(election: Election, as_forening: bool, krets_name: str) -> Mail:
    """The nominee belongs to another krets than the nominator (or the förening)."""
    subject = f"Nomineringen kunde inte registreras – {election.title}"
    who_sv = "förening" if as_forening else "medlem"
    who_en = "a förening" if as_forening else "a member"
    swedish = f"""
Hej!

Din nominering i {election.title} kunde inte registreras. Den nominerade tillhör inte
{krets_name}. Som {who_sv} kan du bara nominera medlemmar i samma krets ({krets_name}).
Kretsen avgörs av medlemsregistret.
"""
    english = f"""
Your nomination in {election.title} could not be registered: the nominee is not a member of
{krets_name}, and as {who_en} you may nominate only members of that krets, as recorded in the
member register.
"""
    return subject, _body(swedish, english)


def no_contest(election: Election) -> Mail:
    """The nominee's krets elects no delegates in this election."""
    subject = f"Nomineringen kunde inte registreras – {election.title}"
    swedish = f"""
Hej!

Din nominering i {election.title} kunde inte registreras: den nominerades krets väljer inga
ombud i det här valet.
"""
    english = f"""
Your nomination in {election.title} could not be registered: the nominee's krets elects no
delegates in this election.
"""
    return subject, _body(swedish, english)


def nominee_unreachable(election: Election) -> Mail:
    """The nominee has no email address in the register, so they cannot answer."""
    subject = f"Nomineringen kunde inte registreras – {election.title}"
    swedish = f"""
Hej!

Din nominering i {election.title} kunde inte registreras: den nominerade har ingen
e-postadress i medlemsregistret och kan därför inte tacka ja. Be den nominerade att lägga in
sin e-postadress hos partiet, och nominera sedan igen.
"""
    english = f"""
Your nomination in {election.title} could not be registered: the nominee has no email address in
the member register and so cannot accept. Ask them to add one, then nominate again.
"""
    return subject, _body(swedish, english)


def nominee_invitation(
    election: Election, krets_name: str, link: str, expires_at: datetime
) -> Mail:
    """Tell the nominee they were nominated, with the link to accept or decline."""
    subject = f"Du har nominerats till kongressombud – {election.title}"
    swedish = f"""
Hej!

Du har nominerats som kandidat till kongressombud för {krets_name} i {election.title}.

Öppna länken nedan för att tacka ja eller nej. Tackar du ja kan du sedan skriva en
presentation av dig själv, med foto och länkar, som visas på kandidatlistan.

{link}

Länken gäller till {_when(election, expires_at)}. Den kan öppnas en gång; öppnar du den
igen i en annan webbläsare skickar vi en ny länk till den här adressen.
"""
    english = f"""
You have been nominated as a candidate for congress delegate for {krets_name} in
{election.title}. Open the link above to accept or decline; once you accept, the same link lets
you write your candidate presentation. It is valid until {_when(election, expires_at)}.
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
