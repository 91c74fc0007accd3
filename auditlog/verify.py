"""The offline verifier of an election record: ``verify-election RECORD [--log-key FP] [--json]``.

Each check below is one section of docs/election-record.md ("What the verifier checks"), which
is the specification; the ballot checks' process pool and shortcuts are in auditlog/ballotcheck,
the check of postal ballots in auditlog/paper.
Pure: ``auditlog``, ``ballots``, ``cryptography`` and the standard library, so an auditor runs it
without the server, a database or a secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from auditlog.ballotcheck import check_board
from auditlog.checkpoint import CheckpointError, key_fingerprint, verify_checkpoint
from auditlog.entries import ChainError, canonical_json, leaf_hash, verify_chain
from auditlog.events import (
    BOARD_SEALED,
    CANDIDATES_PUBLISHED,
    ELECTION_CREATED,
    RESULTS_PUBLISHED,
    ROLL_FROZEN,
    ROLL_MEMBER_ADDED,
    TALLY_COUNTED,
    LogEvents,
    read_events,
)
from auditlog.merkle import root as merkle_root
from auditlog.paper import check_paper
from auditlog.record import (
    FORMAT,
    RULE_FIELDS,
    VERSION,
    ElectionRecord,
    RecordContest,
    RecordError,
    b64_field,
    contests_in_order,
    load_record,
    read_record,
    read_record_file,
)
from auditlog.recount import recount_result
from auditlog.report import Check, arguments, difference, guarded, plural, render, summary
from auditlog.votercodes import codes_hash, list_hash
from ballots.blindrsa import load_public_key_spki, public_key_jwk
from ballots.board import board_hash
from ballots.errors import BallotError
from ballots.tally import TallyError, result_bytes, result_hash

__all__ = [
    "CHECKS",
    "FORMAT",
    "VERSION",
    "Check",
    "RecordError",
    "main",
    "verify_record",
    "verify_text",
]

CHECKS = (
    "record format",
    "log chain",
    "log key",
    "checkpoints",
    "log events",
    "candidate lists and keys",
    "ballots valid",
    "ballot signatures",
    "no duplicates",
    "ballots ≤ signatures ≤ roll",
    "paper ballots",
    "roll size matches the log",
    "voter codes",
    "board matches the seal",
    "recount",
    "results hash",
)
"""The checks' names, in the order they run and are printed."""


# --- The log -----------------------------------------------------------------------------


def _check_chain(rec: ElectionRecord) -> Check:
    try:
        verify_chain(e.encode("utf-8") for e in rec.entries)
    except ChainError as exc:
        return Check("log chain", False, f"log {exc}")
    return Check("log chain", True, f"{len(rec.entries)} entries, canonical, numbered and chained")


def _check_log_key(rec: ElectionRecord, expected: str | None) -> Check:
    problems = []
    actual = key_fingerprint(rec.log_key)
    if actual != rec.log_key_fingerprint:
        problems.append(f"log.fingerprint is not that of the log key, {actual}")
    if rec.manifest["log_key"] != base64.b64encode(rec.log_key).decode():
        problems.append("the manifest names another log key")
    if expected is not None and _norm(expected) != _norm(actual):
        problems.append(f"the log key's fingerprint {actual} is not the expected {expected}")
    if expected is not None:
        return summary("log key", problems, f"fingerprint {actual}, as expected (--log-key)")
    # Why so explicit: without --log-key the record was only checked against its own key, and a
    # log re-signed with another key passes that; only the printed fingerprint tells them apart.
    return summary(
        "log key",
        problems,
        f"fingerprint {actual} matches the record's own key only; NOT checked against an outside "
        'fingerprint (run with --log-key "<fingerprint printed in the protocol>")',
    )


def _norm(fingerprint: str) -> str:
    return "".join(fingerprint.split()).lower()


def _check_checkpoints(rec: ElectionRecord, events: LogEvents) -> Check:
    leaves = [bytes.fromhex(leaf_hash(e.encode("utf-8"))) for e in rec.entries]
    problems: list[str] = []
    sizes: list[int] = []
    for index, cp in enumerate(rec.checkpoints):
        where = f"checkpoint {index}"
        try:
            signature = b64_field(cp["signature"], f"{where}.signature", 64)
            origin, size, root = verify_checkpoint(cp["body"], signature, rec.log_key)
        except (CheckpointError, RecordError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        where = f"checkpoint {index} (size {size})"
        host = origin.removesuffix("/" + rec.slug)
        if host == origin or not host or "/" in host:
            problems.append(f"{where}: origin {origin!r} is not <host>/{rec.slug}")
        if size > len(leaves):
            problems.append(f"{where}: covers more entries than the log's {len(leaves)}")
        elif merkle_root(leaves[:size]) != root:
            problems.append(f"{where}: root is not the Merkle root of the first {size} entries")
        if cp["root"] != base64.b64encode(root).decode() or cp["size"] != size:
            problems.append(f"{where}: its size or root field is not the signed one")
        if sizes and size <= sizes[-1]:
            problems.append(f"{where}: not larger than the checkpoint before it")
        sizes.append(size)
    seal = events.index.get(BOARD_SEALED)
    if not rec.checkpoints:
        problems.append("the record holds no checkpoint")
    elif seal is not None and seal + 1 not in sizes:
        problems.append(f"no checkpoint has size {seal + 1}, the log up to the board.sealed event")
    if sizes and sizes[-1] != len(leaves) and max(sizes) < len(leaves):
        problems.append(
            f"the last {len(leaves) - max(sizes)} log entries (from entry {max(sizes)}) are not "
            "covered by a signed checkpoint"
        )
    return summary(
        "checkpoints",
        problems,
        f"{len(sizes)} signed checkpoints, sizes {sizes}, each a prefix of the log",
    )


def _check_events(events: LogEvents) -> Check:
    found = [kind for kind in events.data if kind != ELECTION_CREATED]
    return summary(
        "log events",
        events.problems,
        f"{ELECTION_CREATED} first, then {', '.join(found)} and {len(events.added)} "
        "roll.member_added: payloads, number and order as documented",
    )


# --- The manifest ------------------------------------------------------------------------


def _check_candidate_lists(rec: ElectionRecord, events: LogEvents) -> Check:
    problems: list[str] = []
    published = events.per_contest(CANDIDATES_PUBLISHED)
    created = events.per_contest(ELECTION_CREATED) or {}
    if published is None:
        problems.append("the log holds no valid candidates.published event")
    for cid, contest in contests_in_order(rec):
        computed = hashlib.sha256(canonical_json(contest.candidates)).hexdigest()
        if computed != contest.list_hash:
            problems.append(f"contest {cid}: the candidate list does not hash to its list_hash")
        event = (published or {}).get(cid)
        if event is not None:
            if event["list_hash"] != computed:
                problems.append(
                    f"contest {cid}: the candidate list is not the one published in the log"
                )
            if event["candidates"] != contest.candidate_ids:
                problems.append(f"contest {cid}: the candidate ids are not those in the log")
            if event["key_sha256"] != hashlib.sha256(contest.spki).hexdigest():
                problems.append(
                    f"contest {cid}: the contest key is not the one published in the log"
                )
            for name in RULE_FIELDS:
                mine = getattr(contest.rule, name)
                if event[name] != mine:
                    problems.append(
                        f"contest {cid}: {name} is {mine} in the manifest but {event[name]} in "
                        "candidates.published"
                    )
        if cid in created:
            problems.extend(_configured_rule(contest, created[cid]))
        problems.extend(_key_forms(contest))
    return summary(
        "candidate lists and keys",
        problems,
        f"{len(rec.contests)} contests: lists, rules and keys match the log",
    )


def _configured_rule(contest: RecordContest, configured: dict[str, Any]) -> list[str]:
    """The manifest's rule is election.created's, capped at the candidates if a vote is held."""
    n = len(contest.candidates)
    problems = []
    for name in RULE_FIELDS:
        expected = configured[name]
        if contest.holds_vote and name in ("min_selections", "max_selections"):
            expected = min(expected, n)
        mine = getattr(contest.rule, name)
        if mine != expected:
            capped = f", capped at its {n} candidates" if contest.holds_vote else ""
            problems.append(
                f"contest {contest.id}: {name} is {mine} in the manifest, but election.created "
                f"configured {configured[name]}{capped}"
            )
    return problems


def _key_forms(contest: RecordContest) -> list[str]:
    """The manifest's JWK and key size must be the same key as its SPKI."""
    try:
        key = load_public_key_spki(contest.spki)
    except BallotError as exc:
        return [f"contest {contest.id}: {exc.message}"]
    problems = []
    if contest.jwk != public_key_jwk(key):
        problems.append(f"contest {contest.id}: public_key_jwk is not the key of public_key_spki")
    if contest.key_bits != key.key_size:
        problems.append(f"contest {contest.id}: key_bits is not the size of public_key_spki")
    return problems


# --- The board and the counts ------------------------------------------------------------


def _without_vote(rec: ElectionRecord) -> list[str]:
    """A contest that holds no vote has an empty board."""
    return [
        f"contest {cid} holds no vote ({plural(len(c.candidates), 'candidate')} for "
        f"{plural(c.rule.seats, 'seat')}), but its board holds "
        f"{plural(len(rec.board[cid]), 'ballot')}"
        for cid, c in contests_in_order(rec)
        if not c.holds_vote and rec.board[cid]
    ]


def _check_counts(rec: ElectionRecord, events: LogEvents) -> Check:
    sealed = events.sealed()
    problems = []
    for cid, contest in contests_in_order(rec):
        seal = sealed.get(cid)
        if seal is None:
            problems.append(f"contest {cid}: not in the board.sealed event")
            continue
        ballots, issued, roll = len(rec.board[cid]), seal["signatures_issued"], seal["roll_size"]
        envelopes = seal["postal_envelopes"]
        if ballots != seal["ballots"]:
            problems.append(
                f"contest {cid}: {ballots} ballots on the board, {seal['ballots']} sealed"
            )
        # A counted postal envelope is a signature issued too: the member's one vote.
        if not ballots + envelopes <= issued <= roll:
            problems.append(
                f"contest {cid}: not ballots ({ballots}) + postal envelopes ({envelopes}) ≤ "
                f"signatures issued ({issued}) ≤ roll size ({roll})"
            )
        listed = rec.counts[cid]
        if (listed["signatures_issued"], listed["roll_size"]) != (issued, roll):
            problems.append(f"contest {cid}: the record's counts are not the sealed ones")
        if not contest.holds_vote and (seal["ballots"] or issued):
            sealed_ballots = plural(seal["ballots"], "ballot")
            problems.append(
                f"contest {cid} holds no vote, but the seal gives it {sealed_ballots} and "
                f"{plural(issued, 'signature')} issued"
            )
    return summary(
        "ballots ≤ signatures ≤ roll",
        problems,
        "every contest: ballots + postal envelopes ≤ signatures ≤ roll",
    )


def _check_roll(rec: ElectionRecord, events: LogEvents) -> Check:
    """The sealed roll sizes are the roll the log built: frozen size + members added after; each
    addition names the size it made, and the record lists as many roll codes as the seal."""
    sealed = events.sealed()
    frozen = events.per_contest(ROLL_FROZEN)
    seal_index = events.index[BOARD_SEALED]
    before_seal = [a for a in events.added if a.entry < seal_index]
    added = Counter(a.contest for a in before_seal)
    problems = []
    for cid, _contest in contests_in_order(rec):
        if cid not in sealed:
            continue
        roll = sealed[cid]["roll_size"]
        at_freeze = frozen[cid]["size"] if frozen and cid in frozen else 0
        expected = at_freeze + added[cid]
        if roll != expected:
            how = f"{at_freeze} at the freeze" if frozen is not None else "no roll.frozen event"
            problems.append(
                f"contest {cid}: the sealed roll size {roll} is not the logged roll's {expected} "
                f"({how} + {added[cid]} added before the seal)"
            )
        size = at_freeze
        for addition in before_seal:
            if addition.contest != cid:
                continue
            size += 1
            if addition.size != size:
                problems.append(
                    f"contest {cid}: entry {addition.entry} ({ROLL_MEMBER_ADDED}) gives the roll "
                    f"size {addition.size}, but the freeze and the additions so far make {size}"
                )
        listed = len(rec.counts[cid]["roll_codes"])
        if listed != roll:
            problems.append(
                f"contest {cid}: the record lists {listed} roll codes, the seal a roll of {roll}"
            )
    return summary(
        "roll size matches the log",
        problems,
        "every contest's sealed roll size = its roll.frozen size + its roll.member_added events "
        f"before the seal ({added.total()} in all)",
    )


def _ascending(cid: str, name: str, codes: list[str]) -> list[str]:
    """Problems with a list of codes that must be strictly ascending (sorted, none twice)."""
    problems = []
    for before, code in zip(codes, codes[1:], strict=False):
        if code == before:
            problems.append(f"contest {cid}: the code {code} appears twice in {name}")
        elif code < before:
            problems.append(f"contest {cid}: {name} is not sorted: {code} comes after {before}")
    return problems


def _commitments(rec: ElectionRecord, events: LogEvents) -> dict[str, tuple[str, str]]:
    """Each contest's last commitment to its roll of codes before the seal: (codes_hash, where)."""
    committed: dict[str, tuple[str, str]] = {}
    frozen = events.per_contest(ROLL_FROZEN) or {}
    for cid, item in frozen.items():
        committed[cid] = (item["codes_hash"], f"entry {events.index[ROLL_FROZEN]} ({ROLL_FROZEN})")
    for addition in events.added:
        if addition.entry < events.index[BOARD_SEALED] and addition.contest in rec.contests:
            where = f"entry {addition.entry} ({ROLL_MEMBER_ADDED})"
            committed[addition.contest] = (addition.codes_hash, where)
    return committed


def _check_codes(rec: ElectionRecord, events: LogEvents) -> Check:
    """Who took part, anonymously: each contest's roll codes open the log's last commitment to
    them, and its issued codes are codes of its roll, one per signature issued."""
    sealed = events.sealed()
    committed = _commitments(rec, events)
    problems: list[str] = []
    roll_of: dict[str, str] = {}
    issued_total = 0
    for cid, _contest in contests_in_order(rec):
        listed = rec.counts[cid]
        roll, issued = listed["roll_codes"], listed["issued_codes"]
        problems += _ascending(cid, "roll_codes", roll)
        problems += _ascending(cid, "issued_codes", issued)
        for code in roll:
            other = roll_of.setdefault(code, cid)
            if other != cid:
                problems.append(f"contest {cid}: the code {code} is on the roll of contest {other}")
        on_roll = set(roll)
        problems += [
            f"contest {cid}: the issued code {code} is not on the contest's roll"
            for code in dict.fromkeys(issued)
            if code not in on_roll
        ]
        seal = sealed.get(cid)
        if seal is not None and len(issued) != seal["signatures_issued"]:
            problems.append(
                f"contest {cid}: {plural(len(issued), 'issued code')}, but the seal gives "
                f"{plural(seal['signatures_issued'], 'signature')} issued"
            )
        if seal is not None and list_hash(issued) != seal["issued_codes_hash"]:
            problems.append(
                f"contest {cid}: issued_codes do not hash to the sealed issued_codes_hash"
            )
        issued_total += len(issued)
        commitment = committed.get(cid)
        if commitment is None:
            if roll:
                problems.append(
                    f"contest {cid}: no roll event commits to its codes, but the record lists "
                    f"{plural(len(roll), 'roll code')}"
                )
            continue
        digest = codes_hash(roll, listed["roll_codes_salt"])
        if digest != commitment[0]:
            problems.append(
                f"contest {cid}: roll_codes with roll_codes_salt hash to {digest[:8]}…, not to "
                f"the codes_hash {commitment[0][:8]}… of {commitment[1]}"
            )
    return summary(
        "voter codes",
        problems,
        f"{len(roll_of)} roll codes open the log's commitments; {issued_total} issued codes, "
        "each on its contest's roll, one per signature issued",
    )


def _check_board_hashes(
    rec: ElectionRecord, events: LogEvents, hashes: dict[str, str | None]
) -> Check:
    sealed = events.sealed()
    problems = []
    for cid, _contest in contests_in_order(rec):
        seal = sealed.get(cid)
        if seal is None:
            problems.append(f"contest {cid}: not in the board.sealed event")
            continue
        computed = hashes.get(cid, "")
        if computed == "":
            try:
                computed = board_hash(rec.board[cid])
            except (KeyError, TypeError):
                computed = None
        if computed is None:
            problems.append(f"contest {cid}: the board cannot be hashed")
        elif computed != seal["board_hash"]:
            problems.append(f"contest {cid}: the board hash {computed[:8]}… is not the sealed one")
    return summary("board matches the seal", problems, "every contest's board hash is sealed")


# --- The count ---------------------------------------------------------------------------


def _check_recount(
    rec: ElectionRecord, events: LogEvents, choices: dict[str, Counter[tuple[str, ...]]]
) -> Check:
    try:
        recount = recount_result(rec, events.sealed(), choices)
    except (TallyError, KeyError) as exc:
        return Check("recount", False, f"the recount fails: {exc}")
    try:
        same = result_bytes(recount) == result_bytes(rec.results)
    except (TypeError, ValueError):
        same = False
    if same:
        return Check("recount", True, "the recount equals the published results")
    return Check("recount", False, difference(rec.results, recount))


def _check_results_hash(rec: ElectionRecord, events: LogEvents) -> Check:
    problems = []
    digest = result_hash(rec.results)
    counted = events.data.get(TALLY_COUNTED)
    if counted is None:
        problems.append("the log holds no valid tally.counted event")
    else:
        if counted["results_hash"] != digest:
            problems.append("the results do not hash to the tally.counted event's results_hash")
        if counted["seed"] != rec.seed:
            problems.append("the tally seed is not the one in the tally.counted event")
        logged = events.per_contest(TALLY_COUNTED) or {}
        places = {
            c.get("contest"): [c.get("elected"), c.get("ersattare")]
            for c in rec.results.get("contests", [])
            if isinstance(c, dict)
        }
        for cid, _contest in contests_in_order(rec):
            if cid not in logged:
                continue
            named = [logged[cid]["elected"], logged[cid]["ersattare"]]
            if places.get(cid) != named:
                problems.append(
                    f"contest {cid}: tally.counted names elected and ersättare "
                    f"{json.dumps(named)}, the results {json.dumps(places.get(cid))}"
                )
    published = events.data.get(RESULTS_PUBLISHED)
    if published is not None and published["results_hash"] != digest:
        problems.append("the results do not hash to the results.published event's results_hash")
    return summary("results hash", problems, "the results hash to the logged results_hash")


# --- Running the checks ------------------------------------------------------------------


def verify_record(
    record: Any, *, expected_fingerprint: str | None = None, workers: int | None = None
) -> list[Check]:
    """Every check of the election record (parsed JSON); valid only if every Check is ok."""
    try:
        rec = read_record(record)
    except RecordError as exc:
        return [Check("record format", False, str(exc))]
    kretsar = {cid: c.krets for cid, c in rec.contests.items()}
    events = read_events(rec.entries, kretsar, base64.b64encode(rec.log_key).decode())
    checks = [Check("record format", True, f"{FORMAT} version {VERSION}, election {rec.slug}")]
    checks.append(guarded("log chain", lambda: _check_chain(rec)))
    checks.append(guarded("log key", lambda: _check_log_key(rec, expected_fingerprint)))
    checks.append(guarded("checkpoints", lambda: _check_checkpoints(rec, events)))
    checks.append(_check_events(events))
    checks.append(guarded("candidate lists and keys", lambda: _check_candidate_lists(rec, events)))
    board = check_board(rec, workers)
    total = sum(len(b) for b in rec.board.values())
    checks += [
        summary(
            "ballots valid",
            _without_vote(rec) + board.invalid,
            f"{total} ballots canonical and valid",
        ),
        summary("ballot signatures", board.unsigned, f"{total} RSA-PSS signatures verify"),
        summary("no duplicates", board.duplicates, "no ballot hash and no signature appears twice"),
    ]
    checks.append(guarded("ballots ≤ signatures ≤ roll", lambda: _check_counts(rec, events)))
    checks.append(guarded("paper ballots", lambda: check_paper(rec, events)))
    checks.append(guarded("roll size matches the log", lambda: _check_roll(rec, events)))
    checks.append(guarded("voter codes", lambda: _check_codes(rec, events)))
    checks.append(
        guarded(
            "board matches the seal", lambda: _check_board_hashes(rec, events, board.board_hashes)
        )
    )
    checks.append(guarded("recount", lambda: _check_recount(rec, events, board.choices)))
    checks.append(guarded("results hash", lambda: _check_results_hash(rec, events)))
    return checks


def verify_text(
    text: str, *, expected_fingerprint: str | None = None, workers: int | None = None
) -> list[Check]:
    """Every check of the record file's text; ValueError if the text is not JSON at all."""
    try:
        record = load_record(text)
    except RecordError as exc:
        return [Check("record format", False, str(exc))]
    return verify_record(record, expected_fingerprint=expected_fingerprint, workers=workers)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``verify-election`` console script; exit 0 only if every check passes."""
    args = arguments(argv)
    try:
        record = read_record_file(args.record)
    except (OSError, ValueError, RecursionError) as exc:
        print(f"verify-election: cannot read {args.record}: {exc}", file=sys.stderr)
        return 2
    if isinstance(record, RecordError):
        checks = [Check("record format", False, str(record))]
    else:
        checks = verify_record(record, expected_fingerprint=args.log_key, workers=args.workers)
    ok = all(c.ok for c in checks)
    print(render(checks, as_json=args.json))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
