"""Register tables. Personnummer is stored only encrypted, with a keyed hash for look-ups."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from voting.db import Base, IntPK, UTCTime


class Krets(Base):
    """A part of the district; members and candidates belong to exactly one."""

    __tablename__ = "krets"

    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))


class Forening(Base):
    """A local association. Its contact may nominate on its behalf within its krets."""

    __tablename__ = "forening"

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    krets_code: Mapped[str] = mapped_column(sa.ForeignKey("krets.code"))
    contact_email: Mapped[str | None] = mapped_column(sa.String(320), index=True)

    krets: Mapped[Krets] = relationship()


class Channel(enum.StrEnum):
    """How a member gets the vote: a mailed link, a letter with a code, or a postal ballot."""

    EMAIL = "email"
    LETTER = "letter"
    POSTAL = "postal"


class Member(Base):
    """One member of the register, keyed by the party's member ID."""

    __tablename__ = "member"
    __table_args__ = (
        sa.CheckConstraint(
            f"channel IN ({', '.join(repr(c.value) for c in Channel)})", name="channel_known"
        ),
    )

    member_id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    # AES-GCM ciphertext of the 12-digit form; never stored or logged in clear.
    personnummer_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    # Keyed hash of the 12-digit form, to find a member by personnummer without decrypting all.
    personnummer_lookup: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    first_name: Mapped[str] = mapped_column(sa.String(200))
    last_name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(320), index=True)  # stored lower-case
    # Set when the SMTP server refused the address for good; cleared when the email changes.
    email_bounced_at: Mapped[UTCTime | None]
    # When the address last changed (committee correction or register import): a voting link
    # that already went out may then be moved to the new address only by two committee members.
    email_changed_at: Mapped[UTCTime | None]
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    krets_code: Mapped[str] = mapped_column(sa.ForeignKey("krets.code"), index=True)
    forening: Mapped[str | None] = mapped_column(sa.String(200))
    # AES-GCM ciphertext of the postal address as canonical JSON {co, street, postcode, city},
    # bound to the member ID like the personnummer; None when the register gives none.
    address_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    channel: Mapped[str] = mapped_column(
        sa.String(10), default=Channel.EMAIL.value, server_default=Channel.EMAIL.value
    )
    updated_at: Mapped[UTCTime]

    krets: Mapped[Krets] = relationship()

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"
