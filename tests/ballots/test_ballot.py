"""The canonical ballot: its exact bytes, the strict parser, and base64url."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ballots import (
    InvalidBallot,
    InvalidEncoding,
    ParsedBallot,
    SelectionRule,
    b64url_decode,
    b64url_encode,
    ballot_hash,
    ballot_input_msg,
    canonical_ballot,
    new_nonce,
    parse_ballot,
)

NONCE = b64url_encode(bytes(range(16)))
CANDIDATES = {"11", "12", "13", "14"}
RULE = SelectionRule.build(seats=2)


def parse(text: str, **overrides: Any) -> ParsedBallot:
    kwargs: dict[str, Any] = {
        "election": "val-2026",
        "contest": "3",
        "candidate_ids": CANDIDATES,
        "rule": RULE,
    }
    kwargs.update(overrides)
    return parse_ballot(text, **kwargs)


def test_canonical_ballot_exact_bytes() -> None:
    text = canonical_ballot("val-2026", "3", ["13", "11"], NONCE)
    assert text == (
        '{"choices":["11","13"],"contest":"3","election":"val-2026",'
        '"nonce":"AAECAwQFBgcICQoLDA0ODw","v":1}'
    )
    assert parse(text) == ParsedBallot("val-2026", "3", ("11", "13"), NONCE)
    assert parse(text).canonical() == text


def test_non_ascii_is_not_escaped() -> None:
    text = canonical_ballot("val-å", "kärna", ["ö"], NONCE)
    assert '"val-å"' in text
    assert "\\u" not in text
    escaped = text.replace("å", "\\u00e5")
    with pytest.raises(InvalidBallot) as info:
        parse_ballot(
            escaped,
            election="val-å",
            contest="kärna",
            candidate_ids={"ö"},
            rule=SelectionRule.build(seats=1),
        )
    assert info.value.code == "ballot_not_canonical"


def test_new_nonce() -> None:
    nonce = new_nonce()
    assert len(nonce) == 22
    assert len(b64url_decode(nonce)) == 16
    assert new_nonce() != nonce
    assert new_nonce(lambda n: b"\xff" * n) == "_____________________w"
    with pytest.raises(InvalidBallot):
        new_nonce(lambda n: b"\x00" * (n - 1))


def replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


GOOD = canonical_ballot("val-2026", "3", ["11", "13"], NONCE)

REFUSALS = {
    "not_json": ("{", "ballot_not_json"),
    "nan": (replace(GOOD, '"v":1', '"v":NaN'), "ballot_not_json"),
    "array": ("[1]", "ballot_not_object"),
    "string": ('"x"', "ballot_not_object"),
    "extra_key": (replace(GOOD, '"v":1', '"v":1,"x":1'), "ballot_keys"),
    "missing_key": (replace(GOOD, ',"v":1', ""), "ballot_keys"),
    "duplicate_key": (replace(GOOD, '"v":1', '"v":1,"v":1'), "ballot_keys"),
    "v_2": (replace(GOOD, '"v":1', '"v":2'), "ballot_version"),
    "v_true": (replace(GOOD, '"v":1', '"v":true'), "ballot_version"),
    "v_float": (replace(GOOD, '"v":1', '"v":1.0'), "ballot_version"),
    "v_string": (replace(GOOD, '"v":1', '"v":"1"'), "ballot_version"),
    "other_election": (replace(GOOD, "val-2026", "val-2027"), "ballot_wrong_election"),
    "other_contest": (replace(GOOD, '"contest":"3"', '"contest":"4"'), "ballot_wrong_contest"),
    "contest_int": (replace(GOOD, '"contest":"3"', '"contest":3'), "ballot_field_type"),
    "nonce_short": (replace(GOOD, NONCE, NONCE[:-2]), "ballot_nonce"),
    "nonce_padded": (replace(GOOD, NONCE, NONCE + "=="), "ballot_nonce"),
    "nonce_alphabet": (replace(GOOD, NONCE, "+" + NONCE[1:]), "ballot_nonce"),
    "nonce_stray_bits": (replace(GOOD, NONCE, NONCE[:-1] + "x"), "ballot_nonce"),
    "nonce_int": (replace(GOOD, f'"{NONCE}"', "5"), "ballot_nonce"),
    "choices_string": (replace(GOOD, '["11","13"]', '"11"'), "ballot_choice_type"),
    "choice_int": (replace(GOOD, '["11","13"]', "[11,13]"), "ballot_choice_type"),
    "choice_repeated": (replace(GOOD, '["11","13"]', '["11","11"]'), "ballot_duplicate_choice"),
    "choices_unsorted": (replace(GOOD, '["11","13"]', '["13","11"]'), "ballot_unsorted_choices"),
    "unknown_candidate": (replace(GOOD, '["11","13"]', '["11","99"]'), "ballot_unknown_candidate"),
    "too_few": (replace(GOOD, '["11","13"]', '["11"]'), "ballot_selection_count"),
    "too_many": (replace(GOOD, '["11","13"]', '["11","12","13"]'), "ballot_selection_count"),
    "none": (replace(GOOD, '["11","13"]', "[]"), "ballot_selection_count"),
    "space": (replace(GOOD, ",", ", "), "ballot_not_canonical"),
    "newline_end": (GOOD + "\n", "ballot_not_canonical"),
    "space_start": (" " + GOOD, "ballot_not_canonical"),
    "key_order": (
        '{"v":1,"choices":["11","13"],"contest":"3","election":"val-2026","nonce":"' + NONCE + '"}',
        "ballot_not_canonical",
    ),
    "escaped_ascii": (replace(GOOD, '"11"', '"\\u0031\\u0031"'), "ballot_not_canonical"),
    "too_long": (GOOD + " " * 70000, "ballot_too_long"),
}


@pytest.mark.parametrize(("text", "code"), REFUSALS.values(), ids=REFUSALS.keys())
def test_parse_refuses(text: str, code: str) -> None:
    with pytest.raises(InvalidBallot) as info:
        parse(text)
    assert info.value.code == code
    assert info.value.message


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(InvalidBallot) as info:
        parse(GOOD.encode())  # type: ignore[arg-type]
    assert info.value.code == "ballot_type"


def test_parse_respects_min_and_max() -> None:
    rule = SelectionRule.build(seats=3, min_selections=1, max_selections=3)
    for choices in (["11"], ["11", "12"], ["11", "12", "13"]):
        parse(canonical_ballot("val-2026", "3", choices, NONCE), rule=rule)
    with pytest.raises(InvalidBallot, match="1 to 3 wanted"):
        parse(canonical_ballot("val-2026", "3", ["11", "12", "13", "14"], NONCE), rule=rule)


@pytest.mark.parametrize(
    ("choices", "code"),
    [
        (["11", "11"], "ballot_duplicate_choice"),
        ([11], "ballot_choice_type"),
        ("11", "ballot_choice_type"),
        (["\ud800"], "ballot_not_utf8"),
    ],
)
def test_canonical_ballot_refuses(choices: Any, code: str) -> None:
    with pytest.raises(InvalidBallot) as info:
        canonical_ballot("val-2026", "3", choices, NONCE)
    assert info.value.code == code


def test_canonical_ballot_refuses_bad_nonce() -> None:
    with pytest.raises(InvalidBallot) as info:
        canonical_ballot("val-2026", "3", ["11"], "short")
    assert info.value.code == "ballot_nonce"


def test_ballot_hash_and_input_msg() -> None:
    prefix = bytes(32)
    assert ballot_input_msg(prefix, GOOD) == prefix + GOOD.encode()
    assert ballot_hash(prefix, GOOD.encode()) == hashlib.sha256(prefix + GOOD.encode()).hexdigest()
    with pytest.raises(InvalidBallot):
        ballot_input_msg(bytes(31), GOOD)


@pytest.mark.parametrize(
    "text",
    ["AA==", "AA=", "A", "AB", "AAA+", "AAA/", "AA A", "AA\n", "ÅÅ", "AAAAA"],
)
def test_b64url_decode_is_strict(text: str) -> None:
    with pytest.raises(InvalidEncoding) as info:
        b64url_decode(text, field="blinded_msg")
    assert "blinded_msg" in str(info.value)


def test_b64url_decode_length() -> None:
    assert b64url_decode("AAE", length=2) == b"\x00\x01"
    with pytest.raises(InvalidEncoding, match="exactly 3 bytes"):
        b64url_decode("AAE", length=3)
    with pytest.raises(InvalidEncoding):
        b64url_decode(None)  # type: ignore[arg-type]


@given(st.binary(max_size=600))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data


ids = st.text(min_size=1, max_size=12)
ballots = st.builds(
    lambda election, contest, choices, nonce, extra: (
        election,
        contest,
        sorted(choices),
        b64url_encode(nonce),
        set(choices) | extra,
    ),
    election=ids,
    contest=ids,
    choices=st.lists(ids, min_size=1, max_size=8, unique=True),
    nonce=st.binary(min_size=16, max_size=16),
    extra=st.sets(ids, max_size=4),
)


def parse_tuple(text: str, ballot: tuple[str, str, list[str], str, set[str]]) -> ParsedBallot:
    election, contest, choices, _, candidates = ballot
    return parse_ballot(
        text,
        election=election,
        contest=contest,
        candidate_ids=candidates,
        rule=SelectionRule.build(seats=len(choices)),
    )


@given(ballots)
def test_canonical_round_trip(ballot: tuple[str, str, list[str], str, set[str]]) -> None:
    election, contest, choices, nonce, _ = ballot
    text = canonical_ballot(election, contest, list(reversed(choices)), nonce)
    parsed = parse_tuple(text, ballot)
    assert parsed == ParsedBallot(election, contest, tuple(choices), nonce)
    assert parsed.canonical() == text
    assert json.loads(text)["choices"] == choices


def body(ballot: tuple[str, str, list[str], str, set[str]]) -> dict[str, Any]:
    election, contest, choices, nonce, _ = ballot
    return {"choices": choices, "contest": contest, "election": election, "nonce": nonce, "v": 1}


WHITESPACE: dict[str, dict[str, Any]] = {
    "item_space": {"separators": (", ", ":")},
    "key_space": {"separators": (",", ": ")},
    "indent": {"indent": 1, "separators": (",", ":")},
}


@given(ballots, st.sampled_from(sorted(WHITESPACE)))
def test_added_whitespace_is_refused(
    ballot: tuple[str, str, list[str], str, set[str]], style: str
) -> None:
    text = json.dumps(body(ballot), sort_keys=True, ensure_ascii=False, **WHITESPACE[style])
    assume(text != canonical_ballot(*ballot[:4]))
    with pytest.raises(InvalidBallot) as info:
        parse_tuple(text, ballot)
    assert info.value.code == "ballot_not_canonical"


@given(ballots, st.sampled_from([" ", "\n", "\t", "\r\n"]), st.booleans())
def test_surrounding_whitespace_is_refused(
    ballot: tuple[str, str, list[str], str, set[str]], space: str, before: bool
) -> None:
    canonical = canonical_ballot(*ballot[:4])
    text = space + canonical if before else canonical + space
    with pytest.raises(InvalidBallot) as info:
        parse_tuple(text, ballot)
    assert info.value.code == "ballot_not_canonical"


@given(ballots, st.permutations(["choices", "contest", "election", "nonce", "v"]))
def test_other_key_order_is_refused(
    ballot: tuple[str, str, list[str], str, set[str]], order: list[str]
) -> None:
    assume(order != sorted(order))
    fields = body(ballot)
    text = json.dumps(
        {key: fields[key] for key in order}, separators=(",", ":"), ensure_ascii=False
    )
    with pytest.raises(InvalidBallot) as info:
        parse_tuple(text, ballot)
    assert info.value.code == "ballot_not_canonical"


@given(ballots, st.data())
def test_duplicated_choice_is_refused(
    ballot: tuple[str, str, list[str], str, set[str]], data: st.DataObject
) -> None:
    fields = body(ballot)
    repeated = data.draw(st.sampled_from(fields["choices"]))
    fields["choices"] = sorted([*fields["choices"], repeated])
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(InvalidBallot) as info:
        parse_tuple(text, ballot)
    assert info.value.code == "ballot_duplicate_choice"


@given(ballots, st.randoms(use_true_random=False))
def test_unsorted_choices_are_refused(
    ballot: tuple[str, str, list[str], str, set[str]], random: Any
) -> None:
    fields = body(ballot)
    assume(len(fields["choices"]) >= 2)
    shuffled = list(fields["choices"])
    random.shuffle(shuffled)
    assume(shuffled != fields["choices"])
    fields["choices"] = shuffled
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(InvalidBallot) as info:
        parse_tuple(text, ballot)
    assert info.value.code == "ballot_unsorted_choices"


@given(ballots)
def test_ascii_escaping_is_refused_when_it_changes_the_text(
    ballot: tuple[str, str, list[str], str, set[str]],
) -> None:
    text = json.dumps(body(ballot), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assume(text != canonical_ballot(*ballot[:4]))
    with pytest.raises(InvalidBallot) as info:
        parse_tuple(text, ballot)
    assert info.value.code == "ballot_not_canonical"
