"""Errors of the nominations feature, with their catalogs: each code's Swedish text, which
``voting.web.say`` translates for the person who caused it (see ``voting.errors``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from voting.errors import N_, ServiceError

# The questionnaire, the links in the mails and the nominee's page.
MESSAGES: Mapping[str, str] = {
    "not_open": N_("Nomineringen har inte öppnat ännu."),
    "closed": N_("Nomineringen är stängd."),
    "closed_published": N_("Kandidatlistorna är redan publicerade; nomineringen är stängd."),
    "sent_outside_period": N_("Nomineringen skickades utanför nomineringsperioden."),
    "krets_closed": N_("Den nominerades krets tar inte emot fler nomineringar."),
    "lists_published": N_("Kandidatlistorna är publicerade och kan inte längre ändras."),
    "already_answered": N_("Du har redan svarat på nomineringen."),
    # LinkInvalid: the code is the link's reason.
    "unknown": N_("Länken är okänd. Kontrollera att hela länken från mejlet kom med."),
    "used": N_("Länken har redan använts. Nomineringen är redan bekräftad."),
    "expired": N_("Länken har gått ut. Fyll i nomineringsformuläret igen."),
    "revoked": N_("Länken har dragits tillbaka."),
    # The presentation: text, links (``rules.link_problem`` gives the link codes) and photo.
    "text_too_long": N_("Presentationen får vara högst %(max)d tecken."),
    "too_many_links": N_("Högst tre länkar."),
    "link_too_long": N_("Länken är för lång eller innehåller mellanslag."),
    "link_invalid": N_("Länken är inte en giltig adress."),
    "link_scheme": N_("Länken måste börja med http:// eller https://."),
    "presentation_closed": N_(
        "Nomineringen har stängt, och presentationen kan inte längre ändras."
    ),
    "not_accepted": N_("Presentationen kan skrivas först när du har tackat ja."),
    "photo_too_large": N_("Fotot är större än 2 MB."),
    "photo_empty": N_("Fotofilen är tom."),
    "photo_format": N_("Fotot måste vara en JPEG- eller PNG-bild."),
    "photo_pixels": N_("Fotot har för många bildpunkter."),
    "photo_unreadable": N_("Filen gick inte att läsa som en JPEG- eller PNG-bild."),
}

# The committee's review (pages and command line).
REVIEW_MESSAGES: Mapping[str, str] = {
    "unknown_krets": N_("okänd krets %(code)s"),
    "unknown_status": N_("måste vara en av %(known)s"),
    "not_found": N_("Det finns ingen nominering med nummer %(id)s."),
    "lists_published": MESSAGES["lists_published"],
    "cannot_approve": N_("Nominering %(id)s kan inte godkännas: den är %(status)s."),
    "cannot_reject": N_("Nominering %(id)s kan inte avslås: den är %(status)s."),
    "reason_missing": N_("ange ett skäl till avslaget"),
    "reason_too_long": N_("högst %(n)s tecken"),
}


class NominationError(ServiceError):
    """Base of the nomination errors; ``field`` names the form field at fault, if any."""

    messages = MESSAGES


class NominationClosed(NominationError):
    """The election takes no nominations now (before the window, after it, or published)."""

    status = 403


class LinkInvalid(NominationError):
    """An emailed link is unknown, already used, expired or revoked; ``reason`` (the code) says
    which."""

    @property
    def reason(self) -> str:
        return self.code or "unknown"

    @property
    def status(self) -> int:  # type: ignore[override]
        return 404 if self.reason in {"unknown", "revoked"} else 410


class NotAllowed(NominationError):
    """The action does not fit the nomination's state (already answered, lists published)."""

    status = 409


class PresentationInvalid(NominationError):
    """The candidate presentation has a bad field: text, photo or link."""


class PhotoInvalid(PresentationInvalid):
    """The photo is too large, not a JPEG or PNG, or cannot be decoded."""


class ReviewError(ServiceError):
    """A review action does not fit the nomination's or the election's state."""

    status = 409
    messages = REVIEW_MESSAGES
    word_params: ClassVar[tuple[str, ...]] = ("status",)


class NotFound(ReviewError):
    """No nomination or election with that id or slug."""

    status = 404


class CandidatesPublished(ReviewError):
    """The candidate lists are published and frozen; nothing on them may change."""
