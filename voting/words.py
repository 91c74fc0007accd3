"""The language a sentence is said in, passed by whoever shows it.

A few sentences are said both on the committee's pages and on the command line (a krets without
a vote, say). The function that words one takes ``words``: ``flask_babel`` itself in a view (the
reader's language), ``PLAIN`` on the command line and in the logs (the Swedish source text). So
no service imports flask_babel or asks whether it runs in a request, and each sentence is
written once. Babel extracts ``words.gettext(...)`` and ``words.ngettext(...)`` like the plain
calls.
"""

from __future__ import annotations

from typing import Any, Protocol

from voting.errors import fill


class Words(Protocol):
    """gettext and ngettext as flask_babel has them (it is one)."""

    def gettext(self, string: str, **variables: Any) -> str: ...

    def ngettext(self, singular: str, plural: str, num: int, **variables: Any) -> str: ...


class _Plain:
    """The Swedish source text, formatted as gettext would."""

    @staticmethod
    def gettext(string: str, **variables: Any) -> str:
        return fill(string, variables)

    @staticmethod
    def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
        return (singular if num == 1 else plural) % {"num": num, **variables}


PLAIN: Words = _Plain()
