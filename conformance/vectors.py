"""The conformance vectors: each a variant of a base record, and the check that must fail.

docs/election-record.md is the specification each one tests; conformance/mutate.py makes the
variants consistent everywhere but in the one rule. The valid ones show what a verifier must
accept although it might not expect it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditlog.record import paper_key
from ballots.board import board_hash
from ballots.tally import result_hash
from conformance.mutate import (
    Entries,
    Keys,
    Record,
    codes_of,
    contest_of,
    dump,
    first,
    fresh_code,
    item,
    rebuild,
    resign_checkpoints,
    signed_ballot,
    voter,
)


@dataclass(frozen=True)
class Vector:
    """One test vector: a variant of a base record and the check that must fail (None: valid)."""

    name: str
    base: str
    check: str | None
    rule: str
    message: str
    make: Callable[[Record, Keys], Record | str]


def _insert_before(fields: Entries, kind: str, entry_type: str, data: dict[str, Any]) -> None:
    anchor = first(fields, kind)
    new = {"data": data, "prev": "", "seq": 0, "time": anchor["time"], "type": entry_type}
    fields.insert(fields.index(anchor), new)


def _seal(fields: Entries, cid: str) -> dict[str, Any]:
    return item(first(fields, "board.sealed")["data"]["contests"], cid)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Record, Keys], Record]:
    def make(record: Record, keys: Keys) -> Record:
        bad = copy.deepcopy(record)
        target = bad
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return bad

    return make


def _text(old: str, new: str) -> Callable[[Record, Keys], str]:
    """The record's text with the first ``old`` replaced by ``new``."""

    def make(record: Record, keys: Keys) -> str:
        text = dump(record)
        if old not in text:
            raise ValueError(f"{old!r} is not in the record's text")
        return text.replace(old, new, 1)

    return make


def _manifest(krets: str, edit: Callable[[dict[str, Any]], None]) -> Callable[..., Record]:
    def make(record: Record, keys: Keys) -> Record:
        bad = copy.deepcopy(record)
        edit(contest_of(bad, krets))
        return bad

    return make


def _relogged(
    edit: Callable[[Record, Entries], None] | None = None,
    after: Callable[[Record, Entries], None] | None = None,
    override: Callable[[int, dict[str, Any]], None] | None = None,
) -> Callable[[Record, Keys], Record]:
    def make(record: Record, keys: Keys) -> Record:
        return rebuild(record, keys, edit, after=after, override=override)

    return make


def _seed(seed: str) -> Callable[[Record, Keys], Record]:
    def edit(record: Record, fields: Entries) -> None:
        record["tally"]["seed"] = seed

    return _relogged(edit)


def _sealed_unknown_contest(record: Record, fields: Entries) -> None:
    seal = first(fields, "board.sealed")["data"]["contests"]
    empty = hashlib.sha256(b"[]").hexdigest()
    seal.append(
        {
            "contest": "99",
            "krets": "OKAND",
            "ballots": 0,
            "board_hash": empty,
            "signatures_issued": 0,
            "roll_size": 0,
            "issued_codes_hash": empty,
            "postal_envelopes": 0,
            "postal_set_aside": 0,
        }
    )


def _extra_entry_key(record: Record, fields: Entries) -> None:
    first(fields, "roll.frozen")["note"] = "an extra key"


def _max_over_candidates(record: Record, fields: Entries) -> None:
    contest = contest_of(record, "NORR")
    contest["max_selections"] = len(contest["candidates"]) + 1
    cid = contest["id"]
    item(first(fields, "candidates.published")["data"]["contests"], cid)["max_selections"] = (
        contest["max_selections"]
    )
    item(first(fields, "election.created")["data"]["contests"], cid)["max_selections"] = contest[
        "max_selections"
    ]


def _other_winners(record: Record, fields: Entries) -> None:
    logged = first(fields, "tally.counted")["data"]["contests"]
    norr = item(logged, contest_of(record, "NORR")["id"])
    norr["elected"], norr["ersattare"] = norr["ersattare"][:2], norr["elected"]


def _new_entry(record: Record, cid: str, who: str, *, issued: bool = False) -> dict[str, Any]:
    """A roll.member_added payload for ``who``, its fresh code put on the record's roll (and on
    the issued list if ``issued``); size and codes_hash follow when the record is rebuilt."""
    code = fresh_code(record)
    listed = codes_of(record, cid)
    listed["roll_codes"] = sorted([*listed["roll_codes"], code])
    if issued:
        listed["issued_codes"] = sorted([*listed["issued_codes"], code])
    return {"contest": cid, "voter": who, "size": 1, "codes_hash": "0" * 64, "by": 1}


def _issue(record: Record, cid: str) -> None:
    """Put a roll code not yet issued on the contest's issued list."""
    listed = codes_of(record, cid)
    code = next(c for c in listed["roll_codes"] if c not in listed["issued_codes"])
    listed["issued_codes"] = sorted([*listed["issued_codes"], code])


def _added(krets: str, where: str, *, times: int = 1, same_voter: bool = False) -> Any:
    def edit(record: Record, fields: Entries) -> None:
        cid = contest_of(record, krets)["id"]
        for n in range(times):
            who = voter(0 if same_voter else 100 + n)
            if where == "after the seal":
                data = {"contest": cid, "voter": who, "size": 1, "codes_hash": "0" * 64, "by": 1}
                seal = first(fields, "board.sealed")
                fields.insert(
                    fields.index(seal) + 1,
                    {
                        "data": data,
                        "prev": "",
                        "seq": 0,
                        "time": seal["time"],
                        "type": "roll.member_added",
                    },
                )
                continue
            _insert_before(fields, where, "roll.member_added", _new_entry(record, cid, who))
            if cid in {i["contest"] for i in first(fields, "board.sealed")["data"]["contests"]}:
                _seal(fields, cid)["roll_size"] += 1

    return edit


def _added_unknown_contest(record: Record, fields: Entries) -> None:
    data = {"contest": "99", "voter": voter(7), "size": 1, "codes_hash": "0" * 64, "by": 1}
    _insert_before(fields, "board.sealed", "roll.member_added", data)


def _created_second(record: Record, fields: Entries) -> None:
    fields[0], fields[1] = fields[1], fields[0]


def _second_seal(record: Record, fields: Entries) -> None:
    seal = first(fields, "board.sealed")
    fields.insert(fields.index(seal) + 1, copy.deepcopy(seal))


def _seal_without(krets: str) -> Callable[[Record, Keys], Record]:
    def after(record: Record, fields: Entries) -> None:
        seal = first(fields, "board.sealed")["data"]
        cid = contest_of(record, krets)["id"]
        seal["contests"] = [i for i in seal["contests"] if i["contest"] != cid]

    return _relogged(after=after)


def _no_rule_in_log(record: Record, fields: Entries) -> None:
    for listed in first(fields, "candidates.published")["data"]["contests"]:
        for name in ("seats", "min_selections", "max_selections", "substitutes"):
            del listed[name]


def _sealed_by_nobody(record: Record, fields: Entries) -> None:
    first(fields, "board.sealed")["data"]["by"] = "root"


def _tally_without_actor(record: Record, fields: Entries) -> None:
    del first(fields, "tally.counted")["data"]["by"]


def _float_in_entry(record: Record, fields: Entries) -> None:
    first(fields, "links.sent")["data"]["share"] = 0.5


def _time_format(index: int, entry: dict[str, Any]) -> None:
    if index == 1:
        entry["time"] = entry["time"][:19] + "Z"


def _seq_true(index: int, entry: dict[str, Any]) -> None:
    if index == 1:
        entry["seq"] = True


def _unknown_event(record: Record, fields: Entries) -> None:
    _insert_before(fields, "board.sealed", "example.unknown_event", {"anything": [1, "two", None]})


def _results_published_other(record: Record, fields: Entries) -> None:
    first(fields, "results.published")["data"]["results_hash"] = "0" * 64


def _board_of(record: Record, krets: str) -> tuple[str, list[dict[str, str]]]:
    cid = contest_of(record, krets)["id"]
    return cid, next(b for b in record["board"] if b["contest"] == cid)["ballots"]


def _reseal(fields: Entries, cid: str, ballots: list[dict[str, str]], more: int = 0) -> None:
    seal = _seal(fields, cid)
    seal.update(
        ballots=len(ballots),
        board_hash=board_hash(ballots),
        signatures_issued=seal["signatures_issued"] + more,
    )


def _swapped_signatures(record: Record, fields: Entries) -> None:
    cid, ballots = _board_of(record, "NORR")
    ballots[0]["signature"], ballots[1]["signature"] = (
        ballots[1]["signature"],
        ballots[0]["signature"],
    )
    _reseal(fields, cid, ballots)


def _duplicated_ballot(record: Record, fields: Entries) -> None:
    cid, ballots = _board_of(record, "NORR")
    ballots.insert(0, copy.deepcopy(ballots[0]))
    _reseal(fields, cid, ballots, more=1)
    _seal(fields, cid)["roll_size"] += 1
    data = _new_entry(record, cid, voter(3), issued=True)
    _insert_before(fields, "board.sealed", "roll.member_added", data)


def _inflated_roll(record: Record, fields: Entries) -> None:
    _seal(fields, contest_of(record, "NORR")["id"])["roll_size"] += 5


def _norr_codes(record: Record) -> dict[str, Any]:
    return codes_of(record, contest_of(record, "NORR")["id"])


def _spare(listed: dict[str, Any]) -> int:
    """The position in roll_codes of a code that was not issued a signature."""
    return next(i for i, c in enumerate(listed["roll_codes"]) if c not in listed["issued_codes"])


def _roll_unsorted(record: Record, fields: Entries) -> None:
    roll = _norr_codes(record)["roll_codes"]
    roll[0], roll[1] = roll[1], roll[0]


def _issued_unsorted(record: Record, fields: Entries) -> None:
    issued = _norr_codes(record)["issued_codes"]
    issued[0], issued[1] = issued[1], issued[0]


def _roll_code_twice(record: Record, fields: Entries) -> None:
    """A code of the roll in the place of its neighbour (not issued), so the list stays sorted."""
    listed = _norr_codes(record)
    roll, spare = listed["roll_codes"], _spare(listed)
    roll[spare] = roll[spare - 1] if spare > 0 else roll[spare + 1]


def _issued_code_twice(record: Record, fields: Entries) -> None:
    issued = _norr_codes(record)["issued_codes"]
    issued[1] = issued[0]


def _issued_replaced(code: Callable[[Record], str]) -> Callable[[Record, Entries], None]:
    """An issued code of NORR replaced by ``code(record)``, the list sorted again."""

    def edit(record: Record, fields: Entries) -> None:
        listed = _norr_codes(record)
        new = code(record)
        listed["issued_codes"] = sorted([new, *listed["issued_codes"][1:]])

    return edit


def _syd_roll_code(record: Record) -> str:
    return str(codes_of(record, contest_of(record, "SYD")["id"])["roll_codes"][0])


def _norr_spare_code(record: Record) -> str:
    listed = _norr_codes(record)
    return str(listed["roll_codes"][_spare(listed)])


def _code_on_two_rolls(record: Record, fields: Entries) -> None:
    """A code of NORR's roll also on SYD's, in the place of a SYD code not issued."""
    syd = codes_of(record, contest_of(record, "SYD")["id"])
    syd["roll_codes"][_spare(syd)] = _norr_codes(record)["roll_codes"][0]
    syd["roll_codes"].sort()


def _roll_code_replaced(record: Record, fields: Entries) -> None:
    listed = _norr_codes(record)
    listed["roll_codes"][_spare(listed)] = fresh_code(record)
    listed["roll_codes"].sort()


def _issued_dropped(record: Record, fields: Entries) -> None:
    listed = _norr_codes(record)
    listed["issued_codes"] = listed["issued_codes"][1:]


def _added_size_off(record: Record, fields: Entries) -> None:
    first(fields, "roll.member_added")["data"]["size"] += 1


def _other_board_hash(record: Record, fields: Entries) -> None:
    _seal(fields, contest_of(record, "NORR")["id"])["board_hash"] = hashlib.sha256(b"x").hexdigest()


def _decided_otherwise(record: Record, fields: Entries) -> None:
    """The tie's lot reversed in the results, every hash and the log following them."""
    results = record["tally"]["results"]
    contest = results["contests"][0]
    [tie] = contest["ties"]
    order = [e["candidate"] for e in reversed(tie["order"])]
    for entry, candidate in zip(tie["order"], order, strict=True):
        entry.update(candidate=candidate)
    rest = [c for c in contest["ranking"] if c not in order]
    contest["ranking"] = order + rest
    seats = contest["seats"]
    contest["elected"] = contest["ranking"][:seats]
    contest["ersattare"] = contest["ranking"][seats : seats + contest["substitutes"]]
    counted = first(fields, "tally.counted")["data"]
    counted["results_hash"] = result_hash(results)
    counted["contests"] = [
        {
            "contest": contest["contest"],
            "elected": contest["elected"],
            "ersattare": contest["ersattare"],
        }
    ]


def _no_vote_ballot(record: Record, keys: Keys) -> Record:
    """A validly signed ballot on the board of a contest that holds no vote (as many
    candidates as seats), sealed and counted as if the server had accepted it."""
    contest = contest_of(record, "LIKA")
    cid = contest["id"]
    ids = [c["id"] for c in contest["candidates"]]
    entry = signed_ballot(record, keys, cid, ids[: contest["min_selections"]])

    def edit(bad: Record, fields: Entries) -> None:
        board = next(b for b in bad["board"] if b["contest"] == cid)
        board["ballots"] = sorted([*board["ballots"], entry], key=lambda e: e["ballot_hash"])
        seal = _seal(fields, cid)
        seal.update(
            ballots=len(board["ballots"]),
            board_hash=board_hash(board["ballots"]),
            signatures_issued=seal["signatures_issued"] + 1,
        )
        _issue(bad, cid)

    return rebuild(record, keys, edit)


def _no_vote_signature(record: Record, fields: Entries) -> None:
    cid = contest_of(record, "TOM")["id"]
    _seal(fields, cid)["signatures_issued"] = 1
    _issue(record, cid)


def _rule(krets: str, name: str, delta: int) -> Callable[[Record, Keys], Record]:
    return _manifest(krets, lambda c: c.update({name: c[name] + delta}))


def _host_changes(record: Record, keys: Keys) -> Record:
    slug = record["election"]
    hosts = ["val.example.org", "localhost", "röstning.example.se", "[::1]"]
    return resign_checkpoints(
        record,
        keys,
        lambda i, body: f"{hosts[i % len(hosts)]}/{slug}\n" + body.split("\n", 1)[1],
    )


def _reordered(record: Record, keys: Keys) -> str:
    """The same record with every object's keys reversed and other whitespace."""

    def flip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: flip(v) for k, v in reversed(value.items())}
        if isinstance(value, list):
            return [flip(v) for v in value]
        return value

    return json.dumps(flip(record), ensure_ascii=True, indent="\t", separators=(" ,", " : "))


def _manifest_free_codes(
    edit: Callable[[dict[str, Any]], None],
) -> Callable[[Record, Keys], Record]:
    """A copy with NORR's lists of codes edited, nothing else (a format error)."""

    def make(record: Record, keys: Keys) -> Record:
        bad = copy.deepcopy(record)
        edit(_norr_codes(bad))
        return bad

    return make


def _jwk(krets: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Record, Keys], Record]:
    return _manifest(krets, lambda c: edit(c["public_key_jwk"]))


def _duplicate_candidate(record: Record, keys: Keys) -> Record:
    bad = copy.deepcopy(record)
    norr, syd = contest_of(bad, "NORR"), contest_of(bad, "SYD")
    syd["candidates"][0]["id"] = norr["candidates"][0]["id"]
    return bad


def _postal(record: Record) -> tuple[str, dict[str, Any]]:
    cid = contest_of(record, "VAST")["id"]
    return cid, codes_of(record, cid)


def _paper_added(record: Record, fields: Entries) -> None:
    cid, listed = _postal(record)
    listed["paper_ballots"].append(list(listed["paper_ballots"][0]))
    listed["paper_ballots"].sort(key=paper_key)


def _paper_breaks_rule(record: Record, fields: Entries) -> None:
    cid, listed = _postal(record)
    listed["paper_ballots"][0] = listed["paper_ballots"][0][:1]


def _paper_count_raised(record: Record, fields: Entries) -> None:
    results = record["tally"]["results"]
    contest = next(c for c in results["contests"] if c["contest"] == _postal(record)[0])
    contest["paper_ballots"] += 1
    first(fields, "tally.counted")["data"]["results_hash"] = result_hash(results)


def _envelopes_lowered(record: Record, fields: Entries) -> None:
    _seal(fields, _postal(record)[0])["postal_envelopes"] -= 1


def _envelopes_over_signatures(record: Record, fields: Entries) -> None:
    _seal(fields, _postal(record)[0])["postal_envelopes"] += 1


def _set_aside_not_sealed(record: Record, fields: Entries) -> None:
    _postal(record)[1]["postal_set_aside"] += 1


VECTORS: list[Vector] = [
    # Valid: what the documents allow, though a verifier might not expect it.
    Vector(
        "checkpoint-hosts-change",
        "normal",
        None,
        "a checkpoint's origin host may be any non-empty host and may change between checkpoints",
        "",
        _host_changes,
    ),
    Vector(
        "keys-reordered-ascii-escaped",
        "normal",
        None,
        "the file's key order, whitespace and escapes do not matter (the exact strings do)",
        "",
        _reordered,
    ),
    Vector(
        "unknown-event-type",
        "normal",
        None,
        "an entry of a type the verifier does not read is only checked as an entry",
        "",
        _relogged(_unknown_event),
    ),
    # The file and the record's format.
    Vector(
        "version-true",
        "normal",
        "record format",
        "version is the integer 1",
        "version",
        _set(("version",), True),
    ),
    Vector(
        "version-float",
        "normal",
        "record format",
        "numbers are integers",
        "version: the number 1.0",
        _text('\n "version": 1,', '\n "version": 1.0,'),
    ),
    Vector(
        "version-2",
        "normal",
        "record format",
        "a verifier refuses versions it does not know",
        "version: 2",
        _set(("version",), 2),
    ),
    Vector(
        "duplicate-key",
        "normal",
        "record format",
        "no key appears twice in one object",
        "the key 'seed' appears more than once",
        _text('"tally": {\n  "seed": ', '"tally": {\n  "seed": "en annan kula",\n  "seed": '),
    ),
    Vector(
        "float-key-bits",
        "normal",
        "record format",
        "numbers are integers",
        "the number 2048.0",
        _text('"key_bits": 2048', '"key_bits": 2048.0'),
    ),
    Vector(
        "lone-surrogate",
        "normal",
        "record format",
        "strings are Unicode text",
        "unpaired surrogate",
        _text('"title": "', '"title": "\\ud800'),
    ),
    Vector(
        "manifest-extra-key",
        "normal",
        "record format",
        "a manifest contest has exactly the documented keys",
        "unexpected key 'note'",
        _manifest("NORR", lambda c: c.update(note="x")),
    ),
    Vector(
        "jwk-extra-member",
        "normal",
        "record format",
        "public_key_jwk has exactly kty, alg, n, e",
        "unexpected key 'kid'",
        _jwk("NORR", lambda j: j.update(kid="1")),
    ),
    Vector(
        "candidate-id-leading-zero",
        "normal",
        "record format",
        "ids are decimal without leading zeros",
        "is not a decimal id",
        _manifest("NORR", lambda c: c["candidates"][0].update(id="0" + c["candidates"][0]["id"])),
    ),
    Vector(
        "candidate-id-in-two-contests",
        "normal",
        "record format",
        "candidate ids are unique in the manifest",
        "appears more than once in the manifest",
        _duplicate_candidate,
    ),
    Vector(
        "max-over-candidates",
        "normal",
        "record format",
        "in a contest that holds a vote, max_selections ≤ candidates",
        "max_selections",
        _relogged(_max_over_candidates),
    ),
    Vector(
        "log-name",
        "normal",
        "record format",
        "log.name is the election's slug",
        "log.name",
        _set(("log", "name"), "ett-annat-val"),
    ),
    Vector(
        "seed-too-long",
        "normal",
        "record format",
        "the seed has at most 200 characters",
        "tally.seed",
        _seed("kula " * 41),
    ),
    Vector(
        "seed-newline",
        "normal",
        "record format",
        "the seed holds no control character",
        "U+000A",
        _seed("blå kula\n4"),
    ),
    Vector(
        "seed-only-spaces",
        "normal",
        "record format",
        "the seed is not only spaces",
        "only spaces",
        _seed("\u00a0 \u3000"),
    ),
    # The log.
    Vector(
        "entry-extra-key",
        "normal",
        "log chain",
        "an entry has exactly data, prev, seq, time, type",
        "not exactly",
        _relogged(_extra_entry_key),
    ),
    Vector(
        "entry-time-without-fraction",
        "normal",
        "log chain",
        "time is YYYY-MM-DDTHH:MM:SS.ffffffZ",
        "time",
        _relogged(override=_time_format),
    ),
    Vector(
        "entry-seq-true",
        "normal",
        "log chain",
        "seq is an integer",
        "seq true",
        _relogged(override=_seq_true),
    ),
    Vector(
        "entry-float",
        "normal",
        "log chain",
        "entries hold integers only",
        "not an integer",
        _relogged(_float_in_entry),
    ),
    Vector(
        "fingerprint-upper-case",
        "normal",
        "log key",
        "log.fingerprint is exactly the lower-case form",
        "fingerprint",
        lambda r, k: _set(("log", "fingerprint"), r["log"]["fingerprint"].upper())(r, k),
    ),
    Vector(
        "checkpoint-extension-line",
        "normal",
        "checkpoints",
        "a checkpoint body has exactly three lines",
        "3 lines",
        lambda r, k: resign_checkpoints(r, k, lambda i, b: b + "extension\n" if i == 0 else b),
    ),
    Vector(
        "checkpoint-empty-host",
        "normal",
        "checkpoints",
        "the origin is <host>/<slug>, the host not empty",
        "origin",
        lambda r, k: resign_checkpoints(r, k, lambda i, b: "/" + b.split("/", 1)[1]),
    ),
    Vector(
        "checkpoint-repeated",
        "normal",
        "checkpoints",
        "checkpoint sizes strictly grow",
        "not larger",
        lambda r, k: _set(
            ("log", "checkpoints"), [*r["log"]["checkpoints"][:1], *r["log"]["checkpoints"]]
        )(r, k),
    ),
    Vector(
        "checkpoint-at-seal-missing",
        "normal",
        "checkpoints",
        "a checkpoint covers the log up to board.sealed",
        "board.sealed",
        lambda r, k: _set(
            ("log", "checkpoints"),
            [
                c
                for c in r["log"]["checkpoints"]
                if c["size"]
                != 1 + [json.loads(e)["type"] for e in r["log"]["entries"]].index("board.sealed")
            ],
        )(r, k),
    ),
    Vector(
        "checkpoint-tail-uncovered",
        "normal",
        "checkpoints",
        "the last checkpoint covers the whole log",
        "not covered",
        lambda r, k: _set(("log", "checkpoints"), r["log"]["checkpoints"][:-1])(r, k),
    ),
    # The log events.
    Vector(
        "sealed-unknown-contest",
        "normal",
        "log events",
        "board.sealed names each manifest contest once, no other",
        "contest 99 is not a contest of the manifest",
        _relogged(after=_sealed_unknown_contest),
    ),
    Vector(
        "sealed-contest-missing",
        "normal",
        "log events",
        "board.sealed names each manifest contest",
        "is missing",
        _seal_without("SYD"),
    ),
    Vector(
        "member-added-unknown-contest",
        "normal",
        "log events",
        "roll.member_added names a manifest contest",
        "contest 99 is not a contest of the manifest",
        _relogged(_added_unknown_contest),
    ),
    Vector(
        "member-added-twice",
        "normal",
        "log events",
        "a voter is added at most once in the log",
        "was added to a roll before",
        _relogged(_added("NORR", "board.sealed", times=2, same_voter=True)),
    ),
    Vector(
        "member-added-before-freeze",
        "normal",
        "log events",
        "members are added after roll.frozen",
        "before the roll was frozen",
        _relogged(_added("NORR", "roll.frozen")),
    ),
    Vector(
        "member-added-after-seal",
        "normal",
        "log events",
        "members are added before board.sealed",
        "after the board was sealed",
        _relogged(_added("NORR", "after the seal")),
    ),
    Vector(
        "created-not-first",
        "normal",
        "log events",
        "entry 0 is election.created",
        "entry 0 is not the election.created event",
        _relogged(_created_second),
    ),
    Vector(
        "second-seal",
        "normal",
        "log events",
        "board.sealed occurs once",
        "2 board.sealed events",
        _relogged(_second_seal),
    ),
    Vector(
        "seal-actor-unknown",
        "normal",
        "log events",
        'an event\'s by is a staff user id, "cli" or "scheduler"',
        '(board.sealed).by: "root" is not',
        _relogged(_sealed_by_nobody),
    ),
    Vector(
        "tally-actor-missing",
        "normal",
        "log events",
        "the events the verifier reads name who acted",
        "lacks by",
        _relogged(_tally_without_actor),
    ),
    Vector(
        "rule-not-in-log",
        "normal",
        "log events",
        "candidates.published carries each contest's rule",
        "lacks seats",
        _relogged(_no_rule_in_log),
    ),
    # The manifest against the log.
    Vector(
        "rule-min-lowered",
        "normal",
        "candidate lists and keys",
        "the manifest's rule is the one in candidates.published",
        "min_selections is 1 in the manifest but 2 in candidates.published",
        _rule("NORR", "min_selections", -1),
    ),
    Vector(
        "rule-max-raised",
        "normal",
        "candidate lists and keys",
        "the manifest's rule is the one in candidates.published",
        "max_selections is 3 in the manifest but 2 in candidates.published",
        _rule("NORR", "max_selections", 1),
    ),
    Vector(
        "jwk-not-minimal",
        "normal",
        "candidate lists and keys",
        "the JWK's n and e are minimal",
        "public_key_jwk",
        _jwk("NORR", lambda j: j.update(e="AAEAAQ")),
    ),
    # Kretsar without a vote.
    Vector(
        "no-vote-ballot",
        "no-vote",
        "ballots valid",
        "a contest without a vote has an empty board",
        "holds no vote",
        _no_vote_ballot,
    ),
    Vector(
        "no-vote-signature",
        "no-vote",
        "ballots ≤ signatures ≤ roll",
        "a contest without a vote has 0 signatures issued",
        "holds no vote",
        _relogged(_no_vote_signature),
    ),
    # The board, the roll and the count.
    Vector(
        "signatures-swapped",
        "normal",
        "ballot signatures",
        "every ballot's signature verifies under its contest's key",
        "signature does not verify",
        _relogged(_swapped_signatures),
    ),
    Vector(
        "ballot-twice",
        "normal",
        "no duplicates",
        "no ballot hash and no signature appears twice",
        "appears twice",
        _relogged(_duplicated_ballot),
    ),
    Vector(
        "roll-size-inflated",
        "normal",
        "roll size matches the log",
        "the sealed roll size is the frozen size plus the members added before the seal",
        "the sealed roll size",
        _relogged(_inflated_roll),
    ),
    Vector(
        "member-added-size-wrong",
        "normal",
        "roll size matches the log",
        "each roll.member_added names the roll size it made: the freeze's plus the additions",
        "gives the roll size",
        _relogged(after=_added_size_off),
    ),
    # The voter codes.
    Vector(
        "issued-code-malformed",
        "normal",
        "record format",
        "a voter code is ten symbols of 23456789ABCDEFGHJKMNPQRSTVWXYZ in groups of 4, 4, 2",
        "is not a voter code",
        _manifest_free_codes(lambda listed: listed["issued_codes"].__setitem__(0, "K7QF-3MXR-9O")),
    ),
    Vector(
        "roll-codes-unsorted",
        "normal",
        "voter codes",
        "roll_codes are in ascending order",
        "roll_codes is not sorted",
        _relogged(_roll_unsorted),
    ),
    Vector(
        "issued-codes-unsorted",
        "normal",
        "voter codes",
        "issued_codes are in ascending order",
        "issued_codes is not sorted",
        _relogged(_issued_unsorted),
    ),
    Vector(
        "roll-code-twice",
        "normal",
        "voter codes",
        "no code appears twice in roll_codes",
        "appears twice in roll_codes",
        _relogged(_roll_code_twice),
    ),
    Vector(
        "issued-code-twice",
        "normal",
        "voter codes",
        "no code appears twice in issued_codes",
        "appears twice in issued_codes",
        _relogged(_issued_code_twice),
    ),
    Vector(
        "code-on-two-rolls",
        "normal",
        "voter codes",
        "a code is on one contest's roll only",
        "is on the roll of contest",
        _relogged(_code_on_two_rolls),
    ),
    Vector(
        "issued-code-not-on-roll",
        "normal",
        "voter codes",
        "every issued code is on the contest's roll",
        "is not on the contest's roll",
        _relogged(_issued_replaced(fresh_code)),
    ),
    Vector(
        "issued-code-of-other-contest",
        "normal",
        "voter codes",
        "every issued code is on the roll of its own contest",
        "is not on the contest's roll",
        _relogged(_issued_replaced(_syd_roll_code)),
    ),
    Vector(
        "roll-codes-not-committed",
        "normal",
        "voter codes",
        "roll_codes with roll_codes_salt hash to the last codes_hash logged before the seal",
        "not to the codes_hash",
        _relogged(after=_roll_code_replaced),
    ),
    Vector(
        "issued-codes-fewer-than-signatures",
        "normal",
        "voter codes",
        "as many issued codes as signatures issued",
        "issued codes, but the seal gives 3 signatures issued",
        _relogged(_issued_dropped),
    ),
    Vector(
        "issued-codes-not-sealed",
        "normal",
        "voter codes",
        "issued_codes hash to the seal's issued_codes_hash",
        "do not hash to the sealed issued_codes_hash",
        _relogged(after=_issued_replaced(_norr_spare_code)),
    ),
    Vector(
        "board-hash-other",
        "normal",
        "board matches the seal",
        "each board hashes to its sealed board_hash",
        "is not the sealed one",
        _relogged(_other_board_hash),
    ),
    Vector(
        "tie-decided-otherwise",
        "tie",
        "recount",
        "the results are the recount's, lot included, byte for byte",
        "the published",
        _relogged(after=_decided_otherwise),
    ),
    # Postal ballots.
    Vector(
        "paper-ballot-added",
        "postal",
        "paper ballots",
        "no more paper ballots, valid and invalid, than postal envelopes counted",
        "more than the 2 postal envelopes counted",
        _relogged(_paper_added),
    ),
    Vector(
        "paper-ballot-breaks-rule",
        "postal",
        "paper ballots",
        "every paper ballot marks as many names as the contest's rule allows",
        "which the rule (2–2) does not allow",
        _relogged(_paper_breaks_rule),
    ),
    Vector(
        "paper-count-raised",
        "postal",
        "recount",
        "the results' paper_ballots is the record's count of valid paper ballots",
        "the published",
        _relogged(after=_paper_count_raised),
    ),
    Vector(
        "postal-envelopes-lowered",
        "postal",
        "paper ballots",
        "no more paper ballots, valid and invalid, than postal envelopes counted",
        "more than the 1 postal envelope counted",
        _relogged(_envelopes_lowered),
    ),
    Vector(
        "postal-envelopes-over-signatures",
        "postal",
        "ballots ≤ signatures ≤ roll",
        "a counted envelope is a signature issued: ballots + postal envelopes ≤ signatures",
        "postal envelopes (3)",
        _relogged(_envelopes_over_signatures),
    ),
    Vector(
        "postal-counts-not-sealed",
        "postal",
        "paper ballots",
        "the record's postal counts are the sealed ones",
        "postal counts are not the sealed ones",
        _relogged(after=_set_aside_not_sealed),
    ),
    # The results.
    Vector(
        "counted-other-winners",
        "normal",
        "results hash",
        "tally.counted names the results' elected and ersättare",
        "tally.counted names elected",
        _relogged(after=_other_winners),
    ),
    Vector(
        "results-published-other-hash",
        "normal",
        "results hash",
        "results.published names the results' hash",
        "results.published",
        _relogged(after=_results_published_other),
    ),
]
