"""Checking every ballot on the board, fast: the process pool and the shortcuts of
``verify-election``'s checks "ballots valid", "ballot signatures" and "no duplicates".

Each shortcut accepts and refuses exactly what the plain code it stands for does (its
docstring says why; tests/auditlog/test_verify.py compares them). Pure: ``ballots``,
``cryptography`` and the standard library.
"""

from __future__ import annotations

import binascii
import gc
import hashlib
import multiprocessing
import operator
import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from json.encoder import encode_basestring
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from auditlog.record import ElectionRecord
from ballots.ballot import NONCE_LENGTH, b64url_decode, parse_ballot
from ballots.blindrsa import PREFIX_LENGTH, SALT_LENGTH, load_public_key_spki, modulus_length
from ballots.board import BOARD_FIELDS, board_hash
from ballots.errors import BallotError
from ballots.rules import SelectionRule

__all__ = [
    "CHUNK_SIZE",
    "PARALLEL_THRESHOLD",
    "Base64Url",
    "BoardFindings",
    "ContestChecker",
    "ContestSpec",
    "check_board",
    "duplicates_and_order",
    "fast_board_hash",
    "signature_checker",
]

PARALLEL_THRESHOLD = 2000  # below this many ballots, starting worker processes costs more
CHUNK_SIZE = 4000

# The ballots are checked in worker processes, in tasks of one chunk of one contest's board,
# plus one task per contest for its board hash. The workers read the board from this module's
# ``_JOB``: forked workers inherit it from the parent's memory (nothing is pickled), spawned
# ones (when the caller runs threads) receive one pickled copy each when they start.

_FIELD_SET = frozenset(BOARD_FIELDS)
# A canonical ballot ends with ``"nonce":"<22 characters>","v":1}`` (sorted keys put the nonce
# last but one and ``v`` last): the nonce occupies [len - 30, len - 8).
_NONCE_FROM_END = 30
_NONCE_TO_END = 8
_B64URL_LAST_CHAR = {0: "[A-Za-z0-9_-]", 1: "[AQgw]", 2: "[AEIMQUYcgkosw048]"}
_TO_STANDARD_B64 = bytes.maketrans(b"-_", b"+/")
_CACHE_LIMIT = 1 << 16  # remembered ballot forms per contest and process (~10 MB)


class Base64Url:
    """The one unpadded base64url spelling of ``length`` bytes that ``b64url_decode`` accepts.

    That is: the alphabet only, exactly ``ceil(4 * length / 3)`` characters, and zero stray bits
    in the last character (so 1 of 4 or 1 of 16 last characters, or any when there are none).
    ``decode`` gives None for anything else, and the caller then asks ``b64url_decode`` for the
    error; tests/auditlog/test_verify.py checks that the two agree.
    """

    def __init__(self, length: int) -> None:
        self.chars = (4 * length + 2) // 3
        last = _B64URL_LAST_CHAR[length % 3]
        self.pattern = re.compile(f"[A-Za-z0-9_-]{{{self.chars - 1}}}{last}")
        self.padding = b"=" * (-self.chars % 4)

    def decode(self, text: str) -> bytes | None:
        if len(text) != self.chars or self.pattern.fullmatch(text) is None:
            return None
        return binascii.a2b_base64(text.encode("ascii").translate(_TO_STANDARD_B64) + self.padding)


_NONCE = Base64Url(NONCE_LENGTH)
_PREFIX = Base64Url(PREFIX_LENGTH)


@dataclass(frozen=True)
class ContestSpec:
    """What a worker needs to check one contest's ballots."""

    election: str
    cid: str
    spki: bytes
    candidate_ids: tuple[str, ...]
    rule: SelectionRule


class ContestChecker:
    """Checks board entries of one contest, in one process, for one verification."""

    def __init__(self, spec: ContestSpec, key: rsa.RSAPublicKey) -> None:
        self.spec = spec
        self.ids = frozenset(spec.candidate_ids)
        # The manifest's own id strings, so that the choices sent back to the parent share
        # string objects and pickle small.
        self.id_objects = {c: c for c in spec.candidate_ids}
        self.signature_ok = signature_checker(key)
        self.signature = Base64Url(modulus_length(key))
        self.accepted: dict[str, tuple[str, ...]] = {}

    def choices(self, text: str) -> tuple[str, ...]:
        """The ballot's choices if ``parse_ballot`` accepts it; else its BallotError.

        Why the shortcut is exactly as strict: a key of ``accepted`` is a ballot that
        ``parse_ballot`` accepted, with its nonce cut out. A canonical ballot's nonce is the 22
        characters at [len - 30, len - 8), and ``json.dumps`` writes a base64url nonce as it is,
        quoted. So a text that equals an accepted ballot everywhere but there, and holds a valid
        nonce there (``_NONCE``), is the canonical ballot of the same choices with that nonce:
        ``parse_ballot`` would accept it, with the same choices.
        """
        n = len(text)
        key = text[: n - _NONCE_FROM_END] + text[n - _NONCE_TO_END :] if n > 64 else ""
        known = self.accepted.get(key) if key else None
        if (
            known is not None
            and _NONCE.decode(text[n - _NONCE_FROM_END : n - _NONCE_TO_END]) is not None
        ):
            return known
        spec = self.spec
        parsed = parse_ballot(
            text, election=spec.election, contest=spec.cid, candidate_ids=self.ids, rule=spec.rule
        )
        choices = tuple(self.id_objects[c] for c in parsed.choices)
        nonce_slot = text[n - _NONCE_FROM_END : n - _NONCE_TO_END]
        if key and nonce_slot == parsed.nonce and len(self.accepted) < _CACHE_LIMIT:
            self.accepted[key] = choices
        return choices


@dataclass
class _Job:
    """The board being verified and the per-process checkers of its contests."""

    board: dict[str, list[Any]]
    specs: dict[str, ContestSpec]
    checkers: dict[str, ContestChecker | str] = field(default_factory=dict)

    def checker(self, cid: str) -> ContestChecker | str:
        """The contest's checker, or the message why its key cannot be used."""
        found = self.checkers.get(cid)
        if found is None:
            spec = self.specs[cid]
            try:
                found = ContestChecker(spec, load_public_key_spki(spec.spki))
            except BallotError as exc:
                found = f"contest {cid}: {exc.message}"
            self.checkers[cid] = found
        return found


_JOB: _Job | None = None

# ("ballots", contest, start, stop) or ("board hash", contest, 0, 0)
_Task = tuple[str, str, int, int]
# A chunk's invalid ballots, bad signatures and the choices of its valid ballots (counted).
_Chunk = tuple[list[str], list[str], dict[tuple[str, ...], int]]
# A board hash: hex; None if the board cannot be hashed; "" if the parent must redo it.
_Outcome = _Chunk | str | None


def _install(job: _Job) -> None:
    """Make ``job`` this process's job (the initializer of spawned workers)."""
    global _JOB  # noqa: PLW0603 - the workers' shared, read-only job
    _JOB = job


def _run_task(task: _Task) -> _Outcome:
    job = _JOB
    if job is None:
        raise RuntimeError("no verification job in this process")
    kind, cid, start, stop = task
    if kind == "board hash":
        return fast_board_hash(job.board[cid])
    return _check_chunk(job, cid, job.board[cid][start:stop])


def signature_checker(key: rsa.RSAPublicKey) -> Callable[[bytes, bytes], bool]:
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


def _check_chunk(job: _Job, cid: str, ballots: list[Any]) -> _Chunk:
    """Check a chunk of one contest's ballots: (invalid, bad signatures, choices of valid ones)."""
    checker = job.checker(cid)
    if isinstance(checker, str):
        return [checker], [], {}
    invalid: list[str] = []
    unsigned: list[str] = []
    counted: dict[tuple[str, ...], int] = {}
    sha256 = hashlib.sha256
    signature_ok = checker.signature_ok
    for entry in ballots:
        if not isinstance(entry, dict) or entry.keys() != _FIELD_SET:
            invalid.append(f"contest {cid}: a board entry does not have exactly {BOARD_FIELDS}")
            continue
        text, digest = entry["ballot"], entry["ballot_hash"]
        prefix_text, signature_text = entry["msg_prefix"], entry["signature"]
        if not (
            isinstance(text, str)
            and isinstance(digest, str)
            and isinstance(prefix_text, str)
            and isinstance(signature_text, str)
        ):
            invalid.append(f"contest {cid}: a board entry holds a field that is not a string")
            continue
        try:
            choices = checker.choices(text)
            prefix = _PREFIX.decode(prefix_text)
            if prefix is None:
                prefix = b64url_decode(prefix_text, field="msg_prefix", length=PREFIX_LENGTH)
            signature = checker.signature.decode(signature_text)
            if signature is None:
                signature = b64url_decode(signature_text, field="signature")
        except BallotError as exc:
            invalid.append(f"ballot {digest[:8]}…: {exc.message}")
            continue
        message = prefix + text.encode("utf-8")
        if sha256(message).hexdigest() != digest:  # ballots.ballot.ballot_hash
            invalid.append(
                f"ballot {digest[:8]}…: its ballot_hash is not SHA-256(msg_prefix || ballot)"
            )
            continue
        if not signature_ok(message, signature):
            unsigned.append(
                f"ballot {digest[:8]}…: signature does not verify under contest {cid}'s key"
            )
            continue
        counted[choices] = counted.get(choices, 0) + 1
    return invalid, unsigned, counted


def fast_board_hash(ballots: list[Any]) -> str | None:
    """``board_hash(ballots)``; None where it raises KeyError or TypeError, "" on other errors.

    Why the shortcut equals it: when every entry has exactly the board fields, all strings, and
    the entries are already in ballot-hash order, ``sorted_board`` changes nothing (its sort is
    stable and ``str`` of a string is the string). Its ``json.dumps`` (sorted keys, no
    whitespace, no ASCII escaping) then writes each entry as below: the fields in this (sorted)
    order, each string through ``encode_basestring``, the encoder json uses for strings when
    ``ensure_ascii`` is off.
    """
    try:
        if not _plain_and_sorted(ballots):
            return board_hash(ballots)
        quote = encode_basestring
        text = ",".join(
            [
                f'{{"ballot":{quote(e["ballot"])},"ballot_hash":{quote(e["ballot_hash"])},'
                f'"msg_prefix":{quote(e["msg_prefix"])},"signature":{quote(e["signature"])}}}'
                for e in ballots
            ]
        )
        return hashlib.sha256(f"[{text}]".encode()).hexdigest()
    except (KeyError, TypeError):
        return None
    except Exception:  # noqa: BLE001 - the parent recomputes it and reports as before
        return ""


def _plain_and_sorted(ballots: list[Any]) -> bool:
    """Every entry a dict of exactly the board fields, all strings, in ballot-hash order."""
    previous = ""
    for entry in ballots:
        if type(entry) is not dict or entry.keys() != _FIELD_SET:
            return False
        digest = entry["ballot_hash"]
        if (
            type(digest) is not str
            or type(entry["ballot"]) is not str
            or type(entry["msg_prefix"]) is not str
            or type(entry["signature"]) is not str
            or digest < previous
        ):
            return False
        previous = digest
    return True


def _tasks(rec: ElectionRecord) -> list[_Task]:
    # The board hashes first: they are the longest tasks, so the pool ends evenly.
    tasks: list[_Task] = [("board hash", cid, 0, 0) for cid in rec.board]
    for cid, ballots in rec.board.items():
        if cid not in rec.contests:
            continue
        for start in range(0, max(len(ballots), 1), CHUNK_SIZE):
            tasks.append(("ballots", cid, start, min(start + CHUNK_SIZE, len(ballots))))
    return tasks


def _job(rec: ElectionRecord) -> _Job:
    specs = {
        cid: ContestSpec(
            election=rec.slug,
            cid=cid,
            spki=contest.spki,
            candidate_ids=tuple(c["id"] for c in contest.candidates),
            rule=contest.rule,
        )
        for cid, contest in rec.contests.items()
    }
    return _Job(board=rec.board, specs=specs)


def _run_tasks(
    job: _Job,
    tasks: list[_Task],
    total: int,
    workers: int | None,
    meanwhile: Callable[[], None],
) -> list[_Outcome]:
    """The tasks' outcomes, in order; ``meanwhile`` runs in this process while workers work."""
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or total < PARALLEL_THRESHOLD:
        _install(job)
        try:
            outcomes = [_run_task(task) for task in tasks]
        finally:
            _install_none()
        meanwhile()
        return outcomes
    # Why: forking a process that runs other threads (a test runner's servers) can deadlock, so
    # then spawn; the verifier's own process is single-threaded and forks, which starts faster,
    # does not re-import the caller's main module and shares the board without copying it.
    single = threading.active_count() == 1
    fork = single and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    thaw = fork and gc.get_freeze_count() == 0
    if fork:
        _install(job)
        # Why: the collector would otherwise walk (and so copy) every inherited page.
        gc.freeze()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    else:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_install, initargs=(job,)
        )
    try:
        with pool:
            results = pool.map(_run_task, tasks)
            meanwhile()
            return list(results)
    finally:
        if thaw:
            gc.unfreeze()
        _install_none()


def _install_none() -> None:
    global _JOB  # noqa: PLW0603
    _JOB = None


@dataclass
class BoardFindings:
    """What checking every board entry found, for the checks "ballots valid", "ballot
    signatures" and "no duplicates", and what the later checks need."""

    invalid: list[str]
    unsigned: list[str]
    duplicates: list[str]
    choices: dict[str, Counter[tuple[str, ...]]]
    # Per contest: hex board hash; None if the board cannot be hashed; "" if not computed.
    board_hashes: dict[str, str | None]


def check_board(rec: ElectionRecord, workers: int | None) -> BoardFindings:
    """Check every board entry (in a process pool when the board is large); see BoardFindings."""
    invalid: list[str] = []
    unsigned: list[str] = []
    tasks = _tasks(rec)
    total = sum(len(b) for b in rec.board.values())
    choices: dict[str, Counter[tuple[str, ...]]] = {cid: Counter() for cid in rec.board}
    board_hashes: dict[str, str | None] = {}
    scanned: list[tuple[list[str], list[str]]] = []
    outcomes = _run_tasks(
        _job(rec), tasks, total, workers, lambda: scanned.append(duplicates_and_order(rec))
    )
    for task, outcome in zip(tasks, outcomes, strict=True):
        if task[0] == "board hash":
            board_hashes[task[1]] = outcome if isinstance(outcome, str) or outcome is None else ""
        elif isinstance(outcome, tuple):
            bad, bad_sig, chosen = outcome
            invalid.extend(bad)
            unsigned.extend(bad_sig)
            choices[task[1]].update(chosen)
    duplicates, order = scanned[0]
    return BoardFindings(invalid + order, unsigned, duplicates, choices, board_hashes)


def duplicates_and_order(rec: ElectionRecord) -> tuple[list[str], list[str]]:
    """Ballot hashes or signatures that appear twice, and boards out of ballot-hash order."""
    # The common case, all in C: every entry a dict holding both strings, no repeats, in order.
    try:
        digests: list[str] = []
        signatures: list[str] = []
        in_order = True
        for ballots in rec.board.values():
            mine = [entry["ballot_hash"] for entry in ballots]
            digests += mine
            signatures += [entry["signature"] for entry in ballots]
            in_order = in_order and all(map(operator.le, mine, islice(mine, 1, None)))
        if (
            in_order
            and set(map(type, digests)) <= {str}
            and set(map(type, signatures)) <= {str}
            and len(set(digests)) == len(digests)
            and len(set(signatures)) == len(signatures)
        ):
            return [], []
    except (KeyError, TypeError):
        pass
    duplicates: list[str] = []
    order: list[str] = []
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
    return duplicates, order
