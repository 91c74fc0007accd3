"""What every feature's views share: the view return type and the election named in the URL."""

from __future__ import annotations

from flask import abort
from werkzeug.wrappers import Response

from voting.db import db
from voting.elections.errors import ElectionNotFound
from voting.elections.models import Election
from voting.elections.services import get_election

View = str | Response | tuple[str, int]


def election_or_404(slug: str) -> Election:
    """The election with this slug, or a 404 page."""
    try:
        return get_election(db.session, slug)
    except ElectionNotFound:
        abort(404)
