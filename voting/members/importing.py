"""The member register's CSV import: each file checked whole, then upserted in batches.

The file is the register's truth for the rows it holds: a member's fields, personnummer
included, become exactly what the file says (an empty cell clears an optional field). Members
missing from the file are left alone. Föreningar are imported the same way, on their name.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from email_validator import EmailNotValidError
from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from voting.crypto import decrypt, encrypt, keyed_hash
from voting.log.services import REGISTER_LOG, Actor, append
from voting.members.errors import PersonnummerError, RegisterImportError, RowError
from voting.members.models import Forening, Krets, Member
from voting.members.pnr import parse_personnummer
from voting.members.services import (
    ADDRESS_FIELDS,
    ADDRESS_PURPOSE,
    PNR_LOOKUP_PURPOSE,
    PNR_PURPOSE,
    normalize_email,
)
from voting.text import codepoint, forbidden_in_line

MEMBER_HEADER = (
    "member_id",
    "personnummer",
    "first_name",
    "last_name",
    "email",
    "phone",
    "krets",
    "forening",
)
# The postal address, all optional: a file either has these four columns after the others, or
# none of them (and then leaves every member's stored address as it is).
MEMBER_HEADERS = (MEMBER_HEADER, MEMBER_HEADER + ADDRESS_FIELDS)
MEMBER_OPTIONAL = frozenset({"personnummer", "email", "phone", "forening", *ADDRESS_FIELDS})
FORENING_HEADER = ("name", "krets", "contact_email")
FORENING_OPTIONAL = frozenset({"contact_email"})
MAX_LENGTH = {
    "member_id": 40,
    "first_name": 200,
    "last_name": 200,
    "email": 320,
    "phone": 40,
    "forening": 200,
    "name": 200,
    "contact_email": 320,
    "co": 200,
    "street": 200,
    "city": 100,
}
POSTCODE_RE = re.compile(r"([0-9]{3}) ?([0-9]{2})")
MEMBER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PHONE_RE = re.compile(r"\+?[0-9 ()-]{2,40}")
BATCH = 5000
# Stop collecting after this many: a wholly wrong file should not produce 100,000 lines.
MAX_ERRORS = 1000

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; stage is "check" or "write"."""


@dataclass(frozen=True)
class ImportResult:
    """What an import did: row counts and the SHA-256 of the file's bytes."""

    rows: int
    inserted: int
    updated: int
    unchanged: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- reading the file ------------------------------------------------------------------


def _read_bytes(source: Any) -> bytes | None:
    """The bytes of a path, bytes or file object; None when ``source`` is already rows."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        return Path(source).read_bytes()
    if hasattr(source, "read"):
        data = source.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise RegisterImportError([RowError(row, "file", "not_utf8")]) from exc


def _records(
    text: str, headers: tuple[tuple[str, ...], ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of the CSV as (spreadsheet row number, {field: stripped value}); row 1 is the header,
    which must be exactly one of ``headers``."""
    first = text.split("\n", 1)[0]
    # Sniff the separator from the header line alone: a spreadsheet in a Swedish locale
    # writes ";" because "," is the decimal comma there.
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        found = next(reader)
    except StopIteration:
        found = []
    found = [cell.strip() for cell in found]
    if tuple(found) not in headers:
        expected = " / ".join(",".join(h) for h in headers)
        error = (
            RowError(1, "header", "bad_header", {"expected": expected, "found": ",".join(found)})
            if any(found)
            else RowError(1, "header", "empty_header", {"expected": expected})
        )
        raise RegisterImportError([error])
    header = tuple(found)
    index = 1
    while True:
        index += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # A stray quote or an over-long field: the rest of the file cannot be trusted.
            error = RowError(index, "row", "unreadable_row", {"why": str(exc)})
            raise RegisterImportError([error]) from exc
        if not cells or all(not c.strip() for c in cells):
            continue  # blank spreadsheet rows
        if len(cells) != len(header):
            yield (
                index,
                {"__width__": json.dumps([len(cells), len(header)])},
            )
            continue
        yield index, {name: value.strip() for name, value in zip(header, cells, strict=True)}


def read_rows(
    source: Any, headers: tuple[tuple[str, ...], ...]
) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """All rows of ``source`` (path, bytes, file object or mappings) and the SHA-256 of it.

    Each row has the fields of the file's header; mappings get those of the longest header
    whose every field one of them has, else the first."""
    data = _read_bytes(source)
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()
        return list(_records(_decode(data), headers)), digest
    source = list(source)
    header = next(
        (h for h in reversed(headers) if any(set(h) <= set(row) for row in source)), headers[0]
    )
    rows: list[tuple[int, dict[str, str]]] = []
    for index, row in enumerate(source, start=2):
        rows.append((index, {name: str(row.get(name) or "").strip() for name in header}))
    canonical = json.dumps([r for _i, r in rows], sort_keys=True, separators=(",", ":"))
    return rows, hashlib.sha256(canonical.encode()).hexdigest()


# --- field checks ----------------------------------------------------------------------


def common_checks(row_no: int, row: dict[str, str], optional: frozenset[str]) -> list[RowError]:
    if "__width__" in row:
        n, m = json.loads(row["__width__"])
        return [RowError(row_no, "row", "row_width", {"n": n, "m": m})]
    errors = []
    for name in list(row):
        value = row[name]
        bad = forbidden_in_line(value)
        if bad is not None:
            forbidden = {"char": codepoint(bad)}
            errors.append(RowError(row_no, name, "forbidden_character", forbidden))
            # Why blank it: the field's own checks below would echo the value in their
            # messages (an unknown krets code, an email error), bidi controls and all.
            row[name] = ""
        elif not value and name not in optional:
            errors.append(RowError(row_no, name, "required"))
        elif name in MAX_LENGTH and len(value) > MAX_LENGTH[name]:
            errors.append(RowError(row_no, name, "too_long", {"n": MAX_LENGTH[name]}))
    return errors


def _krets_codes(session: Session) -> dict[str, str]:
    """Krets codes by their upper-case form, so that "sodermalm" finds SODERMALM."""
    return {code.upper(): code for code in session.scalars(select(Krets.code))}


def _check_krets(
    row_no: int, value: str, kretsar: dict[str, str]
) -> tuple[str | None, list[RowError]]:
    if not value:
        return None, []
    code = kretsar.get(value.upper())
    if code is None:
        return None, [RowError(row_no, "krets", "unknown_krets", {"code": value[:40]})]
    return code, []


def _check_email(
    row_no: int, field: str, value: str, known: set[str]
) -> tuple[str | None, list[RowError]]:
    if not value:
        return None, []
    lowered = value.lower()
    if lowered in known:
        return lowered, []  # already in the register in exactly this form: checked before
    try:
        return normalize_email(value), []
    except EmailNotValidError as exc:
        # The address is not repeated in the message; the row and field find it.
        return None, [RowError(row_no, field, "bad_email", {"why": str(exc)})]


# --- members ---------------------------------------------------------------------------


def _validate_members(
    session: Session,
    rows: list[tuple[int, dict[str, str]]],
    today: date,
    existing: dict[str, dict[str, Any]],
    progress: Progress | None,
) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Check every row; return clean rows (personnummer as canonical) and all errors."""
    kretsar = _krets_codes(session)
    known_emails = {m["email"] for m in existing.values() if m["email"]}
    seen_ids: dict[str, int] = {}
    seen_pnr: dict[str, int] = {}
    clean: list[dict[str, Any]] = []
    errors: list[RowError] = []
    total = len(rows)
    for done, (row_no, row) in enumerate(rows, start=1):
        if progress and (done % BATCH == 0 or done == total):
            progress("check", done, total)
        if len(errors) >= MAX_ERRORS:
            continue
        row_errors = common_checks(row_no, row, MEMBER_OPTIONAL)
        if row_errors and row_errors[0].field == "row":
            errors.extend(row_errors)
            continue
        member_id = row["member_id"]
        if member_id and len(member_id) <= 40 and not MEMBER_ID_RE.fullmatch(member_id):
            row_errors.append(
                RowError(
                    row_no,
                    "member_id",
                    "member_id_characters",
                )
            )
        if member_id in seen_ids:
            row_errors.append(
                RowError(
                    row_no,
                    "member_id",
                    "member_id_twice",
                    {"row": seen_ids[member_id]},
                )
            )
        elif member_id:
            seen_ids[member_id] = row_no
        canonical = None
        if row["personnummer"]:
            try:
                canonical = parse_personnummer(row["personnummer"], today)
            except PersonnummerError as exc:
                # The message says which part is wrong (date, check digit, format); the number
                # itself is never echoed, so error lists can be shown and kept without it.
                row_errors.append(RowError(row_no, "personnummer", exc.code or "pnr_malformed"))
            else:
                if canonical in seen_pnr:
                    row_errors.append(
                        RowError(
                            row_no,
                            "personnummer",
                            "personnummer_twice",
                            {"row": seen_pnr[canonical]},
                        )
                    )
                else:
                    seen_pnr[canonical] = row_no
        krets, more = _check_krets(row_no, row["krets"], kretsar)
        row_errors += more
        email, more = _check_email(row_no, "email", row["email"], known_emails)
        row_errors += more
        if row["phone"] and not PHONE_RE.fullmatch(row["phone"]):
            row_errors.append(
                RowError(
                    row_no,
                    "phone",
                    "phone_characters",
                )
            )
        address, more = _check_address(row_no, row)
        row_errors += more
        if row_errors:
            errors.extend(row_errors)
            continue
        item = {
            "member_id": member_id,
            "pnr": canonical,
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "email": email,
            "phone": row["phone"] or None,
            "krets_code": krets,
            "forening": row["forening"] or None,
        }
        if "street" in row:  # a file without the address columns leaves addresses alone
            item["address"] = address
        clean.append(item)
    return clean, errors[:MAX_ERRORS]


def _check_address(row_no: int, row: dict[str, str]) -> tuple[str | None, list[RowError]]:
    """The row's postal address as canonical JSON (None if it gives none), and its errors.

    An address is all of street, postcode and city (c/o optional), so that a letter can be
    sent to it; the postcode is Swedish, NNN NN with the space optional, stored with it."""
    if "street" not in row or not any(row[name] for name in ADDRESS_FIELDS):
        return None, []
    errors = [
        RowError(row_no, name, "address_incomplete")
        for name in ("street", "postcode", "city")
        if not row[name]
    ]
    postcode = POSTCODE_RE.fullmatch(row["postcode"]) if row["postcode"] else None
    if row["postcode"] and postcode is None:
        errors.append(RowError(row_no, "postcode", "postcode"))
    if errors or postcode is None:
        return None, errors
    address = {
        "co": row["co"],
        "street": row["street"],
        "postcode": f"{postcode[1]} {postcode[2]}",
        "city": row["city"],
    }
    return json.dumps(address, ensure_ascii=False, sort_keys=True, separators=(",", ":")), []


_COMPARED = ("first_name", "last_name", "email", "phone", "krets_code", "forening")


def _existing_members(session: Session) -> dict[str, dict[str, Any]]:
    """Every member's comparable fields, in one query, without building ORM objects."""
    columns = [Member.member_id, Member.personnummer_lookup, Member.address_enc] + [
        getattr(Member, name) for name in _COMPARED
    ]
    return {row.member_id: row._asdict() for row in session.execute(select(*columns))}


def import_members(
    session: Session,
    rows_or_file: Any,
    now: datetime,
    progress: Progress | None = None,
    *,
    by: Actor,
) -> ImportResult:
    """Check the whole member CSV, then upsert it on member_id; RegisterImportError if any bad row.

    ``rows_or_file`` is a path, the file's bytes, a file object, or an iterable of mappings
    keyed by the header names.
    """
    rows, digest = read_rows(rows_or_file, MEMBER_HEADERS)
    existing = _existing_members(session)
    clean, errors = _validate_members(session, rows, now.date(), existing, progress)
    if errors:
        raise RegisterImportError(errors)

    data_key = current_app.config["DATA_KEY"]
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for row in clean:
        canonical = row.pop("pnr")
        lookup = keyed_hash(canonical, PNR_LOOKUP_PURPOSE, data_key) if canonical else None
        address = row.pop("address", _KEEP)
        old = existing.get(row["member_id"])
        if old is None:
            row["personnummer_lookup"] = lookup
            row["personnummer_enc"] = _encrypt_pnr(canonical, row["member_id"], data_key)
            row["address_enc"] = _encrypt_address(address, row["member_id"], data_key)
            row["updated_at"] = now
            inserts.append(row)
            continue
        changed = any(old[name] != row[name] for name in _COMPARED)
        if address is not _KEEP and address != _decrypt_address(old, data_key):
            changed = True
            row["address_enc"] = _encrypt_address(address, row["member_id"], data_key)
        if old["email"] != row["email"]:
            row["email_bounced_at"] = None  # a new address has not bounced
            row["email_changed_at"] = now  # a link that went out may not follow it unchecked
        # Why compare lookup hashes: re-encrypting is the costly step, and an unchanged
        # number needs no new ciphertext (nor would a new nonce tell anyone anything).
        if old["personnummer_lookup"] != lookup:
            changed = True
            row["personnummer_lookup"] = lookup
            row["personnummer_enc"] = _encrypt_pnr(canonical, row["member_id"], data_key)
        if changed:
            row["updated_at"] = now
            updates.append(row)
        else:
            unchanged += 1

    # Core statements on the table, not ORM bulk operations: the ORM leaves None-valued keys
    # out of each row and splits an executemany wherever the set of keys changes, which turns
    # a register with some empty cells into tens of thousands of single-row statements.
    table = cast(sa.Table, Member.__table__)
    total, written = len(inserts) + len(updates), 0
    for start in range(0, len(inserts), BATCH):
        batch = inserts[start : start + BATCH]
        session.execute(insert(table), batch)
        written += len(batch)
        if progress:
            progress("write", written, total)
    # Rows whose personnummer changed also set its two columns: one statement shape per group.
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in updates:
        shapes.setdefault(frozenset(row), []).append(row)
    for keys, same in shapes.items():
        statement = (
            update(table)
            .where(table.c.member_id == bindparam("key_member_id"))
            .values({k: bindparam(k) for k in sorted(keys) if k != "member_id"})
        )
        for start in range(0, len(same), BATCH):
            batch = [
                {**row, "key_member_id": row["member_id"]} for row in same[start : start + BATCH]
            ]
            session.execute(statement, batch)
            written += len(batch)
            if progress:
                progress("write", written, total)
    if progress and total == 0:
        progress("write", 0, 0)

    result = ImportResult(len(clean), len(inserts), len(updates), unchanged, digest)
    # Counts and the file's hash only: the log must never hold personal data.
    append(session, REGISTER_LOG, "members.imported", {**result.as_dict(), "by": by}, now)
    return result


_KEEP: Any = object()  # the file has no address columns: the stored address stays


def _encrypt_address(address: Any, member_id: str, data_key: str) -> bytes | None:
    if address is None or address is _KEEP:
        return None
    # The member ID as associated data, as for the personnummer.
    return encrypt(address.encode(), ADDRESS_PURPOSE, aad=member_id.encode(), data_key=data_key)


def _decrypt_address(old: dict[str, Any], data_key: str) -> str | None:
    if old["address_enc"] is None:
        return None
    aad = old["member_id"].encode()
    return decrypt(old["address_enc"], ADDRESS_PURPOSE, aad=aad, data_key=data_key).decode()


def _encrypt_pnr(canonical: str | None, member_id: str, data_key: str) -> bytes | None:
    if canonical is None:
        return None
    # Why the member ID as associated data: a ciphertext copied onto another member's row
    # fails to decrypt instead of silently giving that member someone else's number.
    return encrypt(canonical.encode(), PNR_PURPOSE, aad=member_id.encode(), data_key=data_key)


# --- föreningar ------------------------------------------------------------------------


def import_foreningar(session: Session, file: Any, now: datetime, *, by: Actor) -> ImportResult:
    """Check the whole förening CSV (name,krets,contact_email), then upsert it on name."""
    rows, digest = read_rows(file, (FORENING_HEADER,))
    kretsar = _krets_codes(session)
    existing = {
        f.name: f
        for f in session.scalars(select(Forening))  # a few hundred at most: ORM is fine
    }
    known_emails = {f.contact_email for f in existing.values() if f.contact_email}
    seen: dict[str, int] = {}
    clean: list[dict[str, Any]] = []
    errors: list[RowError] = []
    for row_no, row in rows:
        row_errors = common_checks(row_no, row, FORENING_OPTIONAL)
        if row_errors and row_errors[0].field == "row":
            errors.extend(row_errors)
            continue
        name = row["name"]
        if name in seen:
            row_errors.append(RowError(row_no, "name", "forening_twice", {"row": seen[name]}))
        elif name:
            seen[name] = row_no
        krets, more = _check_krets(row_no, row["krets"], kretsar)
        row_errors += more
        email, more = _check_email(row_no, "contact_email", row["contact_email"], known_emails)
        row_errors += more
        if row_errors:
            errors.extend(row_errors)
        else:
            clean.append({"name": name, "krets_code": krets, "contact_email": email})
    if errors:
        raise RegisterImportError(errors[:MAX_ERRORS])

    inserted = updated = unchanged = 0
    for row in clean:
        old = existing.get(row["name"])
        if old is None:
            session.add(Forening(**row))
            inserted += 1
        elif (old.krets_code, old.contact_email) != (row["krets_code"], row["contact_email"]):
            old.krets_code, old.contact_email = row["krets_code"], row["contact_email"]
            updated += 1
        else:
            unchanged += 1
    session.flush()
    result = ImportResult(len(clean), inserted, updated, unchanged, digest)
    append(session, REGISTER_LOG, "foreningar.imported", {**result.as_dict(), "by": by}, now)
    return result
