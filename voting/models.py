"""Import every model module so that ``Base.metadata`` knows all tables (for Alembic).

``tests/test_layers.py`` checks that every mapped class is here."""

from voting.ballot.models import (
    Ballot,
    BoardSeal,
    ContestKey,
    LinkMove,
    ResultsPublication,
    RollCommitment,
    RollEntry,
    RollFreeze,
    SignatureIssued,
    Tally,
    VoterLink,
)
from voting.elections.models import Contest, Election
from voting.letters.models import LetterBatch
from voting.log.models import AuditEntry, AuditHead, Checkpoint, LogKey
from voting.mail.models import OutboxMessage
from voting.members.models import Forening, Krets, Member
from voting.nominations.models import Nomination, NominationSubmission
from voting.postal.models import PaperBallot, PostalBatch, PostalEnvelope
from voting.scheduler.models import JobRun
from voting.staff.models import StaffEid, User
from voting.tokens import LinkToken

__all__ = [
    "AuditEntry",
    "AuditHead",
    "Ballot",
    "BoardSeal",
    "Checkpoint",
    "Contest",
    "ContestKey",
    "Election",
    "Forening",
    "JobRun",
    "Krets",
    "LetterBatch",
    "LinkMove",
    "LinkToken",
    "LogKey",
    "Member",
    "Nomination",
    "NominationSubmission",
    "OutboxMessage",
    "PaperBallot",
    "PostalBatch",
    "PostalEnvelope",
    "ResultsPublication",
    "RollCommitment",
    "RollEntry",
    "RollFreeze",
    "SignatureIssued",
    "StaffEid",
    "Tally",
    "User",
    "VoterLink",
]
