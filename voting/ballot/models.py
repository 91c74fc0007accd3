"""Voting tables. Ballots carry no member reference, no time and no arrival order."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from voting.db import Base, IntPK, UTCTime


class RollEntry(Base):
    """A member on the frozen electoral roll of one contest, with their voter code.

    The voter code is public in the record (the roll's and the issued lists); which member holds
    it is not. So it is stored only encrypted, bound to the member, with a keyed hash that makes
    it unique in the election: a copy of the database without DATA_KEY cannot match the public
    list of issued codes to members. Rows of rolls frozen before codes existed have none.
    """

    __tablename__ = "roll_entry"
    __table_args__ = (
        sa.UniqueConstraint("contest_id", "member_id", name="uq_roll_entry_contest_member"),
        sa.UniqueConstraint("election_id", "code_lookup", name="uq_roll_entry_election_code"),
        sa.CheckConstraint("source IN ('freeze', 'committee')", name="source_known"),
        sa.CheckConstraint("(code_enc IS NULL) = (code_lookup IS NULL)", name="code_whole"),
    )

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    contest_id: Mapped[int] = mapped_column(sa.ForeignKey("contest.id"), index=True)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("member.member_id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(10))
    added_at: Mapped[UTCTime]
    code_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)  # AES-GCM(code)
    code_lookup: Mapped[str | None] = mapped_column(sa.String(64))  # HMAC(code)


class RollCommitment(Base):
    """A salted commitment to a contest's roll of voter codes, as logged at the freeze or at an
    addition (``codes_hash``); one per roll size the contest reached.

    The record opens only the last one (its codes and salt); the salts of the others stay here,
    so that the server can open them to an inquiry without the public learning which codes were
    added when.
    """

    __tablename__ = "roll_commitment"

    contest_id: Mapped[int] = mapped_column(sa.ForeignKey("contest.id"), primary_key=True)
    size: Mapped[int] = mapped_column(primary_key=True)
    salt: Mapped[str] = mapped_column(sa.String(64))
    codes_hash: Mapped[str] = mapped_column(sa.String(64))


class RollFreeze(Base):
    """When an election's roll was frozen, and the hash that went to the log."""

    __tablename__ = "roll_freeze"

    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), primary_key=True)
    frozen_at: Mapped[UTCTime]
    roll_hash: Mapped[str] = mapped_column(sa.String(64))


class ContestKey(Base):
    """The RSA key pair of one contest. The private key is encrypted at rest."""

    __tablename__ = "contest_key"

    contest_id: Mapped[int] = mapped_column(sa.ForeignKey("contest.id"), primary_key=True)
    public_key_der: Mapped[bytes] = mapped_column(sa.LargeBinary)  # SubjectPublicKeyInfo
    private_key_enc: Mapped[bytes] = mapped_column(sa.LargeBinary)  # AES-GCM(PKCS#8 DER)
    bits: Mapped[int]
    created_at: Mapped[UTCTime]


LINK, LETTER = "link", "letter"  # the kinds of a voter link (and of a move)


class VoterLink(Base):
    """A member's voting credential: an emailed link, or the code of a voting letter
    (``voting.letters``); only the token's or code's hash is kept."""

    __tablename__ = "voter_link"

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("member.member_id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[UTCTime]
    revoked_at: Mapped[UTCTime | None]
    kind: Mapped[str] = mapped_column(sa.String(10), default=LINK, server_default=LINK)
    # A letter's: keyed hash of the postal address it went to (a later one elsewhere is a move).
    address_hash: Mapped[str | None] = mapped_column(sa.String(64))


class LinkMove(Base):
    """A voting link to be sent to a member's changed address: asked by one committee member,
    sent only when another approves (or refused).

    Why two people: one staff member could otherwise change a member's address to their own and
    vote in the member's name. The table keeps who asked and who decided, not the address.
    """

    __tablename__ = "link_move"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'approved', 'refused')", name="status_known"),
        sa.CheckConstraint("decided_by IS NULL OR decided_by <> asked_by", name="two_people"),
        sa.CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_when_done"),
    )

    id: Mapped[IntPK]
    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), index=True)
    member_id: Mapped[str] = mapped_column(sa.ForeignKey("member.member_id"), index=True)
    asked_by: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"))
    asked_at: Mapped[UTCTime]
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    decided_at: Mapped[UTCTime | None]
    kind: Mapped[str] = mapped_column(sa.String(10), default=LINK, server_default=LINK)


class SignatureIssued(Base):
    """That voter P got a blind signature in a contest on day D, and what they had blinded.

    ``voter`` is a keyed pseudonym, not the member ID. ``blinded_hash`` lets an identical retry
    get the same signature back; the blinded message itself and the signature are not kept.

    Why no serial id, only a date, and no rowid: members sign and then cast at once, so any
    sequence here (an id, a time to the microsecond, SQLite's hidden rowid) would line up one to
    one with the order of the ballots and tie each ballot to a pseudonym. The key is
    (contest, pseudonym) and, on SQLite, the rows live in that key's order (WITHOUT ROWID).
    ``issued_on`` is the day in the election's timezone, which the member's own page shows.
    """

    __tablename__ = "signature_issued"
    __table_args__ = ({"sqlite_with_rowid": False},)

    contest_id: Mapped[int] = mapped_column(sa.ForeignKey("contest.id"), primary_key=True)
    voter: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    blinded_hash: Mapped[str] = mapped_column(sa.String(64))
    issued_on: Mapped[date] = mapped_column(sa.Date)


class Ballot(Base):
    """A cast ballot on the board. Its key is its hash: nothing reveals when it arrived.

    Why WITHOUT ROWID on SQLite: an ordinary table numbers its rows in arrival order (the hidden
    ``rowid``), which matched against the order of issued signatures would name each voter.
    Keyed by the hash alone, the rows are stored in the order of a random value. PostgreSQL has
    no such option; SECURITY.md says what its heap order and ``xmin`` still show.
    """

    __tablename__ = "ballot"
    __table_args__ = ({"sqlite_with_rowid": False},)

    ballot_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    contest_id: Mapped[int] = mapped_column(sa.ForeignKey("contest.id"), index=True)
    ballot: Mapped[str] = mapped_column(sa.Text)
    msg_prefix: Mapped[str] = mapped_column(sa.String(64))  # base64url, unpadded
    signature: Mapped[str] = mapped_column(sa.Text, unique=True)  # base64url, unpadded


class BoardSeal(Base):
    """The close of an election's board: written once, after voting closes."""

    __tablename__ = "board_seal"

    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), primary_key=True)
    sealed_at: Mapped[UTCTime]
    seal: Mapped[str] = mapped_column(sa.Text)  # canonical JSON, as logged


class Tally(Base):
    """The count of an election: written once, after the board is sealed."""

    __tablename__ = "tally"

    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), primary_key=True)
    seed: Mapped[str] = mapped_column(sa.Text)
    result: Mapped[str] = mapped_column(sa.Text)  # canonical JSON; its hash is logged
    counted_at: Mapped[UTCTime]


class ResultsPublication(Base):
    """When an election's counted results were published: written once, after the tally."""

    __tablename__ = "results_publication"

    election_id: Mapped[int] = mapped_column(sa.ForeignKey("election.id"), primary_key=True)
    published_at: Mapped[UTCTime]
