"""One row per scheduled job that has run: what makes every job run at most once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from voting.db import Base, IntPK, UTCTime


class JobRun(Base):
    __tablename__ = "job_run"
    __table_args__ = (sa.UniqueConstraint("election_id", "job", name="one_run_per_job"),)

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    # "nomination_closes", "voting_opens", "reminder-72h", "voting_closes", ...
    job: Mapped[str] = mapped_column(sa.String(40))
    due_at: Mapped[UTCTime]
    ran_at: Mapped[UTCTime]
    late: Mapped[bool] = mapped_column(default=False)
