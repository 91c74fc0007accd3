"""The byte-level rules of docs/election-record.md, and that the page and the code agree.

The page is the specification: its examples are checked against the code here, it must name no
source file as the definition of anything, and every event type the app writes is documented.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog.entries import (
    GENESIS_HASH,
    ChainError,
    NotCanonical,
    canonical_json,
    leaf_hash,
    make_entry,
    verify_chain,
)
from auditlog.events import IGNORED_EVENTS, PAYLOADS
from auditlog.record import RecordError, load_record
from auditlog.votercodes import ALPHABET, CODE_RE, codes_hash, list_hash, normalize_code
from ballots.tally import SEED_MAX_LENGTH, SEED_SPACES, seed_problem

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "election-record.md").read_text(encoding="utf-8")
NOW = datetime(2027, 1, 14, 10, tzinfo=UTC)


def test_the_canonical_json_example_is_byte_exact():
    value = json.loads(
        '{"b": [1, -20, true, null], "a": "blå\\n\\"x\\"\\u001f", "｡": "/", "😀": {}}'
    )
    text = canonical_json(value)
    assert len(text) == 67
    assert f"\n{text.decode()}\n" in DOC
    assert f"\n{text.hex(' ')}\n" in DOC
    assert hashlib.sha256(text).hexdigest() in DOC
    # Code point order, not UTF-16's (which would put U+1F600 first).
    assert list(json.loads(text)) == ["a", "b", "｡", "😀"]


def test_the_log_entry_example_and_the_empty_board_hash():
    entry = make_entry(
        4,
        "8102b18313e933acdf5d060bc2e7ed4080536d5a5a3418d74d02f61c5f28179b",
        "roll.member_added",
        {
            "codes_hash": codes_hash(EXAMPLE_CODES, "5" * 64),
            "contest": "2",
            "size": 2,
            "voter": "m:3f2a91c0d4e5b6a7980c1d2e",
        },
        NOW,
    )
    assert f"\n{entry.body.decode()}\n" in DOC
    assert f"Its leaf hash is `{entry.hash}`" in DOC
    assert hashlib.sha256(b"[]").hexdigest() in DOC


EXAMPLE_CODES = ["7K2M-Q9TX-4H", "K7QF-3MXR-9T"]


def test_the_voter_code_examples_are_byte_exact():
    """§8.1: the commitment to a roll of codes and the issued codes' hash, as the page shows."""
    committed = canonical_json({"codes": EXAMPLE_CODES, "salt": "5" * 64}).decode()
    assert f"\n{committed}\n" in DOC
    assert f"the commitment `{codes_hash(EXAMPLE_CODES, '5' * 64)}`" in DOC
    assert f"`{canonical_json(EXAMPLE_CODES).decode()}`, `{list_hash(EXAMPLE_CODES)}`" in DOC
    assert list_hash([]) == hashlib.sha256(b"[]").hexdigest()
    for code in EXAMPLE_CODES:
        assert CODE_RE.fullmatch(code)
        assert normalize_code(code.lower().replace("-", " ")) == code


@pytest.mark.parametrize(
    "typed", ["K7QF3MXR9T", "k7qf-3mxr-9t", " K7QF 3MXR 9T ", "K7QF\u20133MXR\u20139T"]
)
def test_a_typed_code_is_read_forgivingly(typed):
    assert normalize_code(typed) == "K7QF-3MXR-9T"


@pytest.mark.parametrize(
    "typed", ["K7QF-3MXR-9", "K7QF-3MXR-9TT", "K7QF-3MXR-90", "O7QF-3MXR-9T", ""]
)
def test_what_is_not_a_code_is_refused(typed):
    assert normalize_code(typed) is None


def test_the_page_names_no_source_file_as_a_definition():
    """Outside its last section ("Implementation", for orientation only) the page points to no
    code: a verifier is written from the text."""
    body, _, implementation = DOC.partition("\n## Implementation\n")
    assert implementation
    assert not re.findall(r"[\w/]+\.py\b", body)


def _written_event_types() -> set[str]:
    """The event types voting/ appends to an election's log (not to the register's): written
    as strings, or as the names auditlog/events.py gives them."""
    import auditlog.events

    found: set[str] = set()
    for path in (ROOT / "voting").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "import" not in text or "append" not in text:
            continue
        for match in re.finditer(r"\bappend\(", text):
            depth, end = 0, match.end() - 1
            for end in range(match.end() - 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            call = text[match.end() : end]
            if "REGISTER_LOG" in call:
                continue
            found.update(re.findall(r'"([a-z][a-z0-9_]*\.[a-z][a-z0-9_.]*)"', call))
            for name in re.findall(r"\b([A-Z][A-Z_]+)\b", call):
                value = getattr(auditlog.events, name, None)
                if isinstance(value, str) and "." in value:
                    found.add(value)
    return found


def test_every_event_the_app_writes_is_documented():
    written = _written_event_types()
    assert {"election.created", "board.sealed", "links.sent", "nomination.declined"} <= written
    documented = set(PAYLOADS) | set(IGNORED_EVENTS)
    assert written <= documented, written - documented
    for kind in documented:
        assert f"`{kind}`" in DOC, kind


def test_the_seed_rule_is_the_one_of_voting_tally():
    from voting.lifecycle.tally import MAX_SEED_LENGTH

    assert SEED_MAX_LENGTH == MAX_SEED_LENGTH
    spaces = {chr(c) for c in range(0x20, sys.maxunicode + 1) if chr(c).isspace()}
    assert spaces == SEED_SPACES


@given(st.text(max_size=210))
def test_seed_problem_refuses_what_voting_tally_refuses(seed):
    # The server's test, as voting/lifecycle/tally.py writes it.
    refused = not seed.strip() or len(seed) > SEED_MAX_LENGTH or any(ord(c) < 32 for c in seed)
    assert (seed_problem(seed) is not None) == refused


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": {"b": [1, {"c": 1, "c": 2}]}}', "a.b[1]: the key 'c' appears more than once"),
        ('{"version": 1.0}', "version: the number 1.0 is not an integer"),
        ('{"a": [1, 2e3]}', "a[1]: the number 2e3 is not an integer"),
        ('{"t": "x\\ud800y"}', "t: a string holds an unpaired surrogate"),
        ('{"\\udc00": 1}', "the record: a key holds an unpaired surrogate"),
    ],
)
def test_strict_json_names_the_place(text, message):
    with pytest.raises(RecordError) as caught:
        load_record(text)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": Infinity}', "Infinity is not JSON"),
        ("[1,]", "Expecting value"),
        ("\ufeff{}", "BOM"),
    ],
)
def test_what_is_not_json_cannot_be_read(text, message):
    with pytest.raises(ValueError, match=message) as caught:
        load_record(text)
    assert not isinstance(caught.value, RecordError)


def test_strict_json_accepts_pairs_and_escaped_backslashes():
    assert load_record('{"e": "\\ud83d\\ude00", "f": "\\\\ud800", "n": -0}') == {
        "e": "😀",
        "f": "\\ud800",
        "n": 0,
    }


def _entry(seq: int = 0, **fields: object) -> bytes:
    base: dict[str, object] = {
        "data": {},
        "prev": GENESIS_HASH,
        "seq": seq,
        "time": "2027-01-14T10:00:00.000000Z",
        "type": "x.y",
    }
    base.update(fields)
    return canonical_json(base)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_entry(note=1), "has keys"),
        (_entry(seq=True), "seq true is not an integer"),
        (_entry(time="2027-01-14T10:00:00Z"), "time"),
        (_entry(time="2027-02-30T10:00:00.000000Z"), "time"),
        (_entry(type="Board.sealed"), "type"),
        (_entry(data=[]), "data is not a JSON object"),
        (_entry(data={"a": 0.5}), "the number 0.5 is not an integer"),
        (_entry().replace(b'"data":{}', b'"data":{},"data":{}'), "a key appears twice"),
        (_entry().replace(b":", b": ", 1), "not canonical"),
        (_entry().replace(b'"x.y"', b'"x\\u002ey"'), "not canonical"),
    ],
)
def test_a_malformed_entry_is_refused(body, message):
    with pytest.raises(ChainError, match=re.escape(message)):
        verify_chain([body])


def test_make_entry_writes_only_what_verifies():
    with pytest.raises(NotCanonical):
        make_entry(0, GENESIS_HASH, "x.y", {"share": 0.5}, NOW)
    for bad in ("X.y", "x..y", "x.", "åäö", ""):
        with pytest.raises(ValueError, match="event type"):
            make_entry(0, GENESIS_HASH, bad, {}, NOW)
    entry = make_entry(0, GENESIS_HASH, "x.y", {"n": -1, "ok": True, "l": [None]}, NOW)
    assert verify_chain([entry.body])[0].hash == leaf_hash(entry.body)


@pytest.mark.parametrize(("candidates", "seats"), [([], 2), (["5"], 2), (["5", "6"], 2)])
def test_a_contest_without_a_vote_counts_from_zero_ballots(candidates, seats):
    """docs/tally.md, "contests without a vote": the same count, from no ballots, elects every
    candidate, no ersättare, no recorded tie; the empty board hashes as the canonical []."""
    from ballots.board import board_hash
    from ballots.tally import count, lottery_key

    empty = board_hash([])
    assert empty == hashlib.sha256(canonical_json([])).hexdigest()
    result = count([], candidates, seats, 3, contest="4", key=lottery_key(empty, "kula"))
    assert sorted(result["elected"]) == sorted(candidates)
    assert result["ersattare"] == []
    assert result["ties"] == []
    assert result["votes"] == dict.fromkeys(candidates, 0)
    assert result["ballots_counted"] == 0


def test_the_code_alphabet_is_the_documented_one():
    """30 symbols: Crockford's base32 digits without 0, 1, I, L, O, U; the page's regex agrees."""
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert "".join(c for c in crockford if c not in "01ILOU") == ALPHABET
    assert len(ALPHABET) == 30
    assert f"`{ALPHABET}`" in DOC
    assert CODE_RE.pattern in DOC
