"""Import every model module so that ``Base.metadata`` knows all tables (for Alembic)."""

from voting.ballot.models import (
    Ballot,
    BoardSeal,
    ContestKey,
    RollEntry,
    RollFreeze,
    SignatureIssued,
    VoterLink,
)
from voting.elections.models import Contest, Election
from voting.letters.models import LetterBatch
from voting.log.models import AuditEntry, AuditHead, LogKey
from voting.mail.models import OutboxMessage
from voting.members.models import Forening, Krets, Member
from voting.nominations.models import Nomination, NominationSubmission
from voting.postal.models import PaperBallot, PostalBatch, PostalEnvelope
from voting.scheduler.models import JobRun
from voting.staff.models import StaffEid, User
from voting.tokens import LinkToken

__all__ = [
    "Ballot",
    "BoardSeal",
    "ContestKey",
    "LogKey",
    "RollEntry",
    "RollFreeze",
    "SignatureIssued",
    "StaffEid",
    "VoterLink",
    "AuditEntry",
    "AuditHead",
    "Contest",
    "Election",
    "Forening",
    "JobRun",
    "Krets",
    "LetterBatch",
    "LinkToken",
    "Member",
    "Nomination",
    "NominationSubmission",
    "OutboxMessage",
    "PaperBallot",
    "PostalBatch",
    "PostalEnvelope",
    "User",
]
