"""A generated letters PDF, waiting encrypted until the committee downloads it once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from voting.db import Base, IntPK, UTCTime


class LetterBatch(Base):
    """One run of letters (all the election's, or one replacement) as one PDF.

    The PDF holds the members' voting codes in clear, which exist nowhere else: it is kept
    AES-GCM encrypted and dropped (``pdf_enc`` NULL) when downloaded or when a newer run
    replaces its codes.
    """

    __tablename__ = "letter_batch"

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    created_at: Mapped[UTCTime]
    letters: Mapped[int]
    pdf_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    downloaded_at: Mapped[UTCTime | None]
