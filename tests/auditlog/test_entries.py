"""Pure chain checks: any edit, drop or reorder of an entry is caught."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog import GENESIS_HASH, ChainError, canonical_json, make_entry, verify_chain

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def build(n: int) -> list[bytes]:
    prev, bodies = GENESIS_HASH, []
    for i in range(n):
        entry = make_entry(i, prev, "test.event", {"i": i}, NOW)
        bodies.append(entry.body)
        prev = entry.hash
    return bodies


def test_canonical_json_is_sorted_and_compact():
    assert canonical_json({"b": 1, "a": "å"}) == '{"a":"å","b":1}'.encode()


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        make_entry(0, GENESIS_HASH, "x", {}, datetime(2026, 1, 1))  # noqa: DTZ001


@given(st.data())
def test_any_tampering_breaks_the_chain(data):
    bodies = build(6)
    verify_chain(bodies)
    kind = data.draw(st.sampled_from(["drop", "swap", "edit", "duplicate"]))
    i = data.draw(st.integers(0, 4))
    tampered = list(bodies)
    if kind == "drop":
        del tampered[i]
    elif kind == "swap":
        tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
    elif kind == "edit":
        tampered[i] = tampered[i].replace(b'"i":', b'"i": ')
    else:
        tampered.insert(i, tampered[i])
    with pytest.raises(ChainError):
        verify_chain(tampered)
