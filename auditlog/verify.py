"""The offline verifier of an election record: ``verify-election RECORD [--log-key FP] [--json]``.

Pure: it imports only ``auditlog``, ``ballots``, ``cryptography`` and the standard library, so an
auditor runs it without the server, a database or a secret. See docs/election-record.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from auditlog.checkpoint import CheckpointError, key_fingerprint, verify_checkpoint
from auditlog.entries import ChainError, canonical_json, leaf_hash, verify_chain
from auditlog.merkle import root as merkle_root
from auditlog.record import (
    FORMAT,
    VERSION,
    ElectionRecord,
    RecordContest,
    RecordError,
    b64_field,
    events_by_type,
    one_event,
    read_record,
    require,
    sealed_contests,
)
from ballots.ballot import b64url_decode, ballot_hash, parse_ballot
from ballots.blindrsa import SALT_LENGTH, load_public_key_spki, public_key_jwk
from ballots.board import BOARD_FIELDS, board_hash
from ballots.errors import BallotError
from ballots.rules import SelectionRule
from ballots.tally import TallyError, count, lottery_key, result_bytes, result_hash, turnout

__all__ = ["FORMAT", "VERSION", "Check", "RecordError", "main", "verify_record"]

PARALLEL_THRESHOLD = 2000  # below this many ballots, starting worker processes costs more
CHUNK_SIZE = 4000
MAX_SHOWN = 10  # problems named per check; the rest are counted


@dataclass(frozen=True)
class Check:
    """One named check of the record and what it found."""

    name: str
    ok: bool
    detail: str


# --- Checks ------------------------------------------------------------------------------


def _summary(name: str, problems: list[str], ok_detail: str) -> Check:
    if not problems:
        return Check(name, True, ok_detail)
    shown = "; ".join(problems[:MAX_SHOWN])
    more = len(problems) - MAX_SHOWN
    return Check(name, False, shown + (f"; and {more} more" if more > 0 else ""))


def _check_chain(rec: ElectionRecord) -> Check:
    bodies = [e.encode("utf-8") for e in rec.entries]
    try:
        verify_chain(bodies)
    except ChainError as exc:
        return Check("log chain", False, f"log {exc}")
    return Check("log chain", True, f"{len(bodies)} entries, canonical, numbered and chained")


def _check_log_key(rec: ElectionRecord, expected: str | None) -> Check:
    problems = []
    if len(rec.log_key) != 32:
        problems.append(f"the log key has {len(rec.log_key)} bytes, not 32")
    actual = key_fingerprint(rec.log_key)
    if actual != rec.log_key_fingerprint:
        problems.append(f"the record's fingerprint is not that of its log key ({actual})")
    if rec.manifest.get("log_key") != base64.b64encode(rec.log_key).decode():
        problems.append("the manifest names another log key")
    if expected is not None and _norm(expected) != _norm(actual):
        problems.append(f"the log key's fingerprint {actual} is not the expected {expected}")
    return _summary("log key", problems, f"fingerprint {actual}")


def _norm(fingerprint: str) -> str:
    return "".join(fingerprint.split()).lower()


def _check_checkpoints(rec: ElectionRecord) -> Check:
    leaves = [bytes.fromhex(leaf_hash(e.encode("utf-8"))) for e in rec.entries]
    problems: list[str] = []
    previous = -1
    sizes = []
    for index, cp in enumerate(rec.checkpoints):
        where = f"checkpoint {index}"
        try:
            origin, size, root = verify_checkpoint(
                cp["body"], b64_field(cp["signature"], f"{where}.signature"), rec.log_key
            )
        except (CheckpointError, RecordError) as exc:
            problems.append(f"{where}: {exc}")
            continue
        where = f"checkpoint {index} (size {size})"
        if not origin.endswith("/" + rec.slug):
            problems.append(f"{where}: origin {origin!r} is not of election {rec.slug}")
        if size > len(leaves):
            problems.append(f"{where}: covers more entries than the log's {len(leaves)}")
        elif merkle_root(leaves[:size]) != root:
            problems.append(f"{where}: root is not the Merkle root of the first {size} entries")
        if cp.get("root") != base64.b64encode(root).decode() or cp.get("size") != size:
            problems.append(f"{where}: its size or root field is not the signed one")
        if size <= previous:
            problems.append(f"{where}: not larger than the checkpoint before it")
        previous = size
        sizes.append(size)
    seal_positions = _positions(rec.entries, "board.sealed")
    if not rec.checkpoints:
        problems.append("the record holds no checkpoint")
    elif seal_positions and seal_positions[0] + 1 not in sizes:
        problems.append("no checkpoint was written at the board seal")
    if sizes and sizes[-1] != len(leaves):
        uncovered = len(leaves) - max(sizes)
        if uncovered > 0:
            problems.append(
                f"the last {uncovered} log entries (from entry {max(sizes)}) are not covered by "
                "a signed checkpoint"
            )
    return _summary(
        "checkpoints",
        problems,
        f"{len(sizes)} signed checkpoints, sizes {sizes}, each a prefix of the log",
    )


def _positions(entries: Sequence[str], event_type: str) -> list[int]:
    found = []
    for index, body in enumerate(entries):
        try:
            fields = json.loads(body)
        except ValueError:
            continue
        if isinstance(fields, dict) and fields.get("type") == event_type:
            found.append(index)
    return found


def _check_candidate_lists(rec: ElectionRecord) -> Check:
    problems: list[str] = []
    data = one_event(rec, "candidates.published")
    published = {
        require(item, "contest", str, "candidates.published"): item
        for item in require(data, "contests", list, "candidates.published")
    }
    if set(published) != set(rec.contests):
        problems.append(
            f"the log publishes contests {sorted(published)}, the manifest has "
            f"{sorted(rec.contests)}"
        )
    for cid, contest in rec.contests.items():
        event = published.get(cid)
        if event is None:
            continue
        computed = hashlib.sha256(canonical_json(contest.candidates)).hexdigest()
        if computed != contest.list_hash:
            problems.append(f"contest {cid}: the candidate list does not hash to its list_hash")
        if event.get("list_hash") != computed:
            problems.append(
                f"contest {cid}: the candidate list is not the one published in the log"
            )
        if event.get("candidates") != [c["id"] for c in contest.candidates]:
            problems.append(f"contest {cid}: the candidate ids are not those in the log")
        if event.get("key_sha256") != hashlib.sha256(contest.spki).hexdigest():
            problems.append(f"contest {cid}: the contest key is not the one published in the log")
        problems.extend(_key_forms(contest))
    return _summary(
        "candidate lists and keys",
        problems,
        f"{len(rec.contests)} contests: lists and keys match the candidates.published event",
    )


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


_Task = tuple[str, str, bytes, tuple[str, ...], tuple[int, int, int, int], list[Any]]


def _signature_checker(key: rsa.RSAPublicKey) -> Callable[[bytes, bytes], bool]:
    """``ballots.blindrsa.verify`` with the key's modulus read once, not per signature.

    Same rules: a signature of exactly the modulus's length, below the modulus, verifying as
    RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt. Reading the modulus per call costs
    a fifth of a verification, which matters at a million ballots.
    """
    n = key.public_numbers().n
    length = (n.bit_length() + 7) // 8
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=SALT_LENGTH)
    digest = hashes.SHA384()

    def check(message: bytes, signature: bytes) -> bool:
        # Why the length and range test: one signature has one byte form, so "no signature
        # appears twice" is a comparison of strings.
        if len(signature) != length or int.from_bytes(signature, "big") >= n:
            return False
        try:
            key.verify(signature, message, pss, digest)
        except InvalidSignature:
            return False
        return True

    return check


def _check_chunk(task: _Task) -> tuple[list[str], list[str], list[tuple[str, ...]]]:
    """Check a chunk of one contest's ballots: (invalid, bad signatures, choices of valid ones)."""
    election, cid, spki, candidate_ids, rule_fields, ballots = task
    rule = SelectionRule(*rule_fields)
    ids = frozenset(candidate_ids)
    invalid: list[str] = []
    unsigned: list[str] = []
    choices: list[tuple[str, ...]] = []
    try:
        key = load_public_key_spki(spki)
    except BallotError as exc:
        return [f"contest {cid}: {exc.message}"], [], []
    signature_ok = _signature_checker(key)
    for entry in ballots:
        if not isinstance(entry, dict) or set(entry) != set(BOARD_FIELDS):
            invalid.append(f"contest {cid}: a board entry does not have exactly {BOARD_FIELDS}")
            continue
        if not all(isinstance(entry[f], str) for f in BOARD_FIELDS):
            invalid.append(f"contest {cid}: a board entry holds a field that is not a string")
            continue
        name = f"ballot {entry['ballot_hash'][:8]}…"
        try:
            parsed = parse_ballot(
                entry["ballot"], election=election, contest=cid, candidate_ids=ids, rule=rule
            )
            prefix = b64url_decode(entry["msg_prefix"], field="msg_prefix", length=32)
            signature = b64url_decode(entry["signature"], field="signature")
        except BallotError as exc:
            invalid.append(f"{name}: {exc.message}")
            continue
        ballot_bytes = entry["ballot"].encode("utf-8")
        if ballot_hash(prefix, ballot_bytes) != entry["ballot_hash"]:
            invalid.append(f"{name}: its ballot_hash is not SHA-256(msg_prefix || ballot)")
            continue
        if not signature_ok(prefix + ballot_bytes, signature):
            unsigned.append(f"{name}: signature does not verify under contest {cid}'s key")
            continue
        choices.append(parsed.choices)
    return invalid, unsigned, choices


def _tasks(rec: ElectionRecord) -> list[_Task]:
    tasks: list[_Task] = []
    for cid, ballots in rec.board.items():
        contest = rec.contests.get(cid)
        if contest is None:
            continue
        r = contest.rule
        for start in range(0, max(len(ballots), 1), CHUNK_SIZE):
            tasks.append(
                (
                    rec.slug,
                    cid,
                    contest.spki,
                    tuple(c["id"] for c in contest.candidates),
                    (r.seats, r.min_selections, r.max_selections, r.substitutes),
                    ballots[start : start + CHUNK_SIZE],
                )
            )
    return tasks


def _run_tasks(
    tasks: list[_Task], total: int, workers: int | None
) -> list[tuple[list[str], list[str], list[tuple[str, ...]]]]:
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or total < PARALLEL_THRESHOLD:
        return [_check_chunk(task) for task in tasks]
    # Why: forking a process that runs other threads (a test runner's servers) can deadlock, so
    # then spawn; the verifier's own process is single-threaded and forks, which starts faster
    # and does not re-import the caller's main module.
    single = threading.active_count() == 1
    method = "fork" if single and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(_check_chunk, tasks))


def _check_ballots(
    rec: ElectionRecord, workers: int | None
) -> tuple[list[Check], dict[str, list[Any]]]:
    """Ballot validity, signatures and duplicates; also the choices per contest for the recount."""
    invalid: list[str] = []
    unsigned: list[str] = []
    duplicates: list[str] = []
    order: list[str] = []
    unknown = [cid for cid in rec.board if cid not in rec.contests]
    invalid.extend(f"board contest {cid}: not a contest of the manifest" for cid in unknown)
    invalid.extend(
        f"contest {cid}: missing from the board" for cid in rec.contests if cid not in rec.board
    )
    tasks = _tasks(rec)
    total = sum(len(b) for b in rec.board.values())
    choices: dict[str, list[Any]] = {cid: [] for cid in rec.board}
    for task, (bad, bad_sig, chosen) in zip(tasks, _run_tasks(tasks, total, workers), strict=True):
        invalid.extend(bad)
        unsigned.extend(bad_sig)
        choices[task[1]].extend(chosen)
    seen_hashes: set[str] = set()
    seen_signatures: set[str] = set()
    for cid, ballots in rec.board.items():
        previous = ""
        for index, entry in enumerate(ballots):
            if not isinstance(entry, dict):
                continue
            digest, signature = str(entry.get("ballot_hash")), str(entry.get("signature"))
            if digest in seen_hashes:
                duplicates.append(f"ballot {digest[:8]}…: its ballot hash appears twice")
            if signature in seen_signatures:
                duplicates.append(f"ballot {digest[:8]}…: its signature appears twice")
            seen_hashes.add(digest)
            seen_signatures.add(signature)
            if digest < previous:
                order.append(f"contest {cid}: ballot {index} is out of ballot-hash order")
            previous = digest
    return [
        _summary("ballots valid", invalid + order, f"{total} ballots canonical and valid"),
        _summary("ballot signatures", unsigned, f"{total} RSA-PSS signatures verify"),
        _summary("no duplicates", duplicates, "no ballot hash and no signature appears twice"),
    ], choices


def _check_counts(rec: ElectionRecord, sealed: dict[str, dict[str, Any]]) -> Check:
    problems = []
    for cid in sorted(rec.contests, key=_contest_order):
        seal = sealed.get(cid)
        if seal is None:
            problems.append(f"contest {cid}: not in the board.sealed event")
            continue
        ballots = len(rec.board.get(cid, []))
        issued, roll = seal.get("signatures_issued"), seal.get("roll_size")
        if not isinstance(issued, int) or not isinstance(roll, int):
            problems.append(f"contest {cid}: the seal lacks signatures_issued or roll_size")
            continue
        if ballots != seal.get("ballots"):
            problems.append(
                f"contest {cid}: {ballots} ballots on the board, {seal.get('ballots')} sealed"
            )
        if not ballots <= issued <= roll:
            problems.append(
                f"contest {cid}: not ballots ({ballots}) ≤ signatures issued ({issued}) ≤ "
                f"roll size ({roll})"
            )
        listed = rec.counts.get(cid, {})
        if (listed.get("signatures_issued"), listed.get("roll_size")) != (issued, roll):
            problems.append(f"contest {cid}: the record's counts are not the sealed ones")
        krets = rec.contests[cid].krets
        if {seal.get("krets"), listed.get("krets"), rec.board_krets.get(cid)} != {krets}:
            problems.append(f"contest {cid}: the krets is not {krets} everywhere")
    return _summary(
        "ballots ≤ signatures ≤ roll", problems, "every contest: ballots ≤ signatures ≤ roll"
    )


def _contest_order(cid: str) -> tuple[int, str]:
    return (int(cid), cid) if cid.isdigit() else (sys.maxsize, cid)


def _check_board_hashes(rec: ElectionRecord, sealed: dict[str, dict[str, Any]]) -> Check:
    problems = []
    for cid, ballots in rec.board.items():
        seal = sealed.get(cid)
        if seal is None:
            problems.append(f"contest {cid}: not in the board.sealed event")
            continue
        try:
            computed = board_hash(ballots)
        except (KeyError, TypeError):
            problems.append(f"contest {cid}: the board cannot be hashed")
            continue
        if computed != seal.get("board_hash"):
            problems.append(f"contest {cid}: the board hash {computed[:8]}… is not the sealed one")
    return _summary("board matches the seal", problems, "every contest's board hash is sealed")


def _recount(
    rec: ElectionRecord, sealed: dict[str, dict[str, Any]], choices: dict[str, list[Any]]
) -> dict[str, Any]:
    contests = []
    for cid in sorted(rec.contests, key=_contest_order):
        contest, seal = rec.contests[cid], sealed[cid]
        chosen = choices.get(cid, [])
        counted = count(
            chosen,
            [c["id"] for c in contest.candidates],
            contest.rule.seats,
            contest.rule.substitutes,
            contest=cid,
            key=lottery_key(seal["board_hash"], rec.seed),
        )
        contests.append(
            {
                **counted,
                "krets": contest.krets,
                "board_hash": seal["board_hash"],
                "ballots_cast": len(chosen),
                "signatures_issued": seal["signatures_issued"],
                "roll_size": seal["roll_size"],
                "turnout": turnout(len(chosen), seal["roll_size"]),
            }
        )
    return {"version": 1, "election": rec.slug, "seed": rec.seed, "contests": contests}


def _difference(published: Any, recount: dict[str, Any]) -> str:
    """Name the first field where the published result differs from the recount."""
    for key in sorted(set(published) | set(recount)):
        if key == "contests":
            continue
        if published.get(key) != recount.get(key):
            return f"the published {key} differs from the recount"
    theirs = published.get("contests")
    if not isinstance(theirs, list) or len(theirs) != len(recount["contests"]):
        return "the published results have another list of contests"
    for pub, mine in zip(theirs, recount["contests"], strict=True):
        if not isinstance(pub, dict):
            return "a published contest is not an object"
        for key in sorted(set(pub) | set(mine)):
            if canonical_json(pub.get(key)) != canonical_json(mine.get(key)):
                return (
                    f"contest {mine['contest']}: the published {key} {json.dumps(pub.get(key))} "
                    f"is not the recount's {json.dumps(mine.get(key))}"
                )
    return "the published results are not in canonical form"


def _check_recount(
    rec: ElectionRecord, sealed: dict[str, dict[str, Any]], choices: dict[str, list[Any]]
) -> list[Check]:
    checks = []
    try:
        recount = _recount(rec, sealed, choices)
    except (TallyError, KeyError, TypeError) as exc:
        checks.append(Check("recount", False, f"the recount fails: {exc}"))
    else:
        if result_bytes(recount) == result_bytes(rec.results):
            checks.append(Check("recount", True, "the recount equals the published results"))
        else:
            checks.append(Check("recount", False, _difference(rec.results, recount)))
    problems = []
    counted = one_event(rec, "tally.counted")
    if counted.get("results_hash") != result_hash(rec.results):
        problems.append("the results do not hash to the tally.counted event's results_hash")
    if counted.get("seed") != rec.seed:
        problems.append("the tally seed is not the one in the tally.counted event")
    return checks + [
        _summary("results hash", problems, "the results hash to the logged results_hash")
    ]


def _guarded(name: str, check: Callable[[], list[Check]]) -> list[Check]:
    """Run a check; a malformed record fails that check instead of crashing the verifier."""
    try:
        return check()
    except (RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return [Check(name, False, f"malformed record: {exc}")]


def verify_record(
    record: Any, *, expected_fingerprint: str | None = None, workers: int | None = None
) -> list[Check]:
    """Every check of the election record; it is valid only if every Check is ok."""
    try:
        rec = read_record(record)
    except RecordError as exc:
        return [Check("record format", False, str(exc))]
    rec.events = events_by_type(rec.entries)
    checks = [Check("record format", True, f"{FORMAT} version {VERSION}, election {rec.slug}")]
    checks += _guarded("log chain", lambda: [_check_chain(rec)])
    checks += _guarded("log key", lambda: [_check_log_key(rec, expected_fingerprint)])
    checks += _guarded("checkpoints", lambda: [_check_checkpoints(rec)])
    checks += _guarded("candidate lists and keys", lambda: [_check_candidate_lists(rec)])
    ballot_checks, choices = _check_ballots(rec, workers)
    checks += ballot_checks
    try:
        sealed = sealed_contests(rec)
    except (RecordError, KeyError, TypeError) as exc:
        return [*checks, Check("board matches the seal", False, f"malformed record: {exc}")]
    checks += _guarded("ballots ≤ signatures ≤ roll", lambda: [_check_counts(rec, sealed)])
    checks += _guarded("board matches the seal", lambda: [_check_board_hashes(rec, sealed)])
    checks += _guarded("recount", lambda: _check_recount(rec, sealed, choices))
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    """The ``verify-election`` console script; exit 0 only if every check passes."""
    parser = argparse.ArgumentParser(
        prog="verify-election", description="Check an election record offline."
    )
    parser.add_argument("record", help="the election record (JSON), or - for standard input")
    parser.add_argument(
        "--log-key", metavar="FINGERPRINT", help="the log key's printed fingerprint"
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    try:
        if args.record == "-":
            text = sys.stdin.read()
        else:
            with open(args.record, encoding="utf-8") as handle:
                text = handle.read()
        record = json.loads(text)
    except (OSError, ValueError) as exc:
        print(f"verify-election: cannot read {args.record}: {exc}", file=sys.stderr)
        return 2
    checks = verify_record(record, expected_fingerprint=args.log_key, workers=args.workers)
    ok = all(c.ok for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
    else:
        for c in checks:
            print(f"{'✓' if c.ok else '✗'} {c.name}: {c.detail}")
        print("The record verifies." if ok else "THE RECORD DOES NOT VERIFY.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
