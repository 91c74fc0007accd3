"""The postal counts the board seal logs, apart so that the seal needs no other postal code."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from voting.postal.models import COUNTED, SET_ASIDE, PostalEnvelope


def sealed_envelopes(session: Session, contest_id: int) -> dict[str, int]:
    """The seal's postal counts of a contest: envelopes counted (each also a signature issued)
    and envelopes set aside unopened because the member had voted online."""
    counts = dict(
        session.execute(
            select(PostalEnvelope.status, func.count())
            .where(PostalEnvelope.contest_id == contest_id)
            .group_by(PostalEnvelope.status)
        ).all()
    )
    return {
        "postal_envelopes": counts.get(COUNTED, 0),
        "postal_set_aside": counts.get(SET_ASIDE, 0),
    }
