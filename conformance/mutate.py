"""Making variants of a genuine election record that differ from it in one documented rule.

Every variant is made consistent everywhere else: a changed log is re-chained and its
checkpoints re-signed with the election's own log key, the record's copies of the seal's counts
and the results are recomputed (docs/tally.md), the tally.counted and results.published events
follow them, and so do the roll events' sizes and commitment to the voter codes and the seal's
hash of the issued codes. So a verifier that lacks the one rule accepts the variant; the one named
check is where docs/election-record.md says it must fail.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditlog.checkpoint import checkpoint_body, key_fingerprint
from auditlog.entries import GENESIS_HASH, canonical_json, leaf_hash
from auditlog.merkle import root as merkle_root
from auditlog.votercodes import ALPHABET, LENGTH, codes_hash, format_code, list_hash
from ballots.ballot import b64url_encode, ballot_hash, canonical_ballot
from ballots.tally import count, lottery_key, result_hash, turnout

Record = dict[str, Any]
Entries = list[dict[str, Any]]


@dataclass
class Keys:
    """The election's private keys, held by the generator only (never written out)."""

    log: Ed25519PrivateKey
    contests: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)

    @property
    def log_public(self) -> bytes:
        return self.log.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )


def dump(record: Record) -> str:
    """The record's text as ``voting election export`` writes it."""
    return json.dumps(record, ensure_ascii=False, indent=1) + "\n"


def entries_of(record: Record) -> Entries:
    return [json.loads(e) for e in record["log"]["entries"]]


def first(fields: Entries, kind: str) -> dict[str, Any]:
    return next(e for e in fields if e["type"] == kind)


def contest_of(record: Record, krets: str) -> dict[str, Any]:
    """The manifest's contest of ``krets``."""
    return next(c for c in record["manifest"]["contests"] if c["krets"]["code"] == krets)


def item(items: list[dict[str, Any]], cid: str) -> dict[str, Any]:
    return next(i for i in items if i.get("contest", str(i.get("id"))) == cid)


def _order(cid: str) -> tuple[int, str]:
    return (len(cid), cid)


def recount(record: Record) -> dict[str, Any]:
    """The result of docs/tally.md for the record's board, seal and seed."""
    sealed = {
        i["contest"]: i for i in first(entries_of(record), "board.sealed")["data"]["contests"]
    }
    board = {b["contest"]: b["ballots"] for b in record["board"]}
    seed = record["tally"]["seed"]
    out = []
    for contest in sorted(record["manifest"]["contests"], key=lambda c: _order(c["id"])):
        cid, seal = contest["id"], sealed[contest["id"]]
        chosen = [json.loads(b["ballot"])["choices"] for b in board[cid]]
        listed = item(record["contests"], cid)
        paper, invalid = listed["paper_ballots"], listed["paper_invalid"]
        counted = count(
            chosen + paper,
            [c["id"] for c in contest["candidates"]],
            contest["seats"],
            contest["substitutes"],
            contest=cid,
            key=lottery_key(seal["board_hash"], seed),
        )
        out.append(
            {
                **counted,
                "krets": contest["krets"]["code"],
                "board_hash": seal["board_hash"],
                "ballots_cast": len(chosen),
                "signatures_issued": seal["signatures_issued"],
                "roll_size": seal["roll_size"],
                "turnout": turnout(len(chosen) + len(paper) + len(invalid), seal["roll_size"]),
            }
        )
        if seal["postal_envelopes"]:
            out[-1].update(paper_ballots=len(paper), paper_invalid=len(invalid))
    return {"version": 1, "election": record["election"], "seed": seed, "contests": out}


def fresh_code(record: Record) -> str:
    """A random voter code that no list of the record holds."""
    taken = {c for listed in record["contests"] for c in listed["roll_codes"]}
    while True:
        code = format_code("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))
        if code not in taken:
            return code


def codes_of(record: Record, cid: str) -> dict[str, Any]:
    """The record's ``contests`` item of contest ``cid``: its counts and lists of codes."""
    return item(record["contests"], cid)


def _roll_sizes_and_codes(record: Record, fields: Entries) -> None:
    """Each roll.member_added names the roll size it made, and each contest's last commitment
    before the seal is to the record's roll codes with their salt."""
    size: dict[str, int] = {}
    last: dict[str, dict[str, Any]] = {}
    sealed = False
    for entry in fields:
        data = entry["data"]
        if entry["type"] == "board.sealed":
            sealed = True
        elif entry["type"] == "roll.frozen":
            for listed in data.get("contests", []):
                size[listed["contest"]] = listed.get("size", 0)
                if not sealed:
                    last[listed["contest"]] = listed
        elif entry["type"] == "roll.member_added" and data.get("contest") in size:
            size[data["contest"]] += 1
            data["size"] = size[data["contest"]]
            if not sealed:
                last[data["contest"]] = data
    for listed in record["contests"]:
        target = last.get(listed["contest"])
        if target is not None and "codes_hash" in target:
            target["codes_hash"] = codes_hash(listed["roll_codes"], listed["roll_codes_salt"])


def _sync(record: Record, fields: Entries) -> None:
    """Make what derives from the log and the board agree with them again."""
    _roll_sizes_and_codes(record, fields)
    record["log"]["entries"] = [canonical_json(e).decode() for e in fields]
    seal = first(fields, "board.sealed")["data"]["contests"]
    for listed in record["contests"]:
        sealed = item(seal, listed["contest"])
        listed.update(signatures_issued=sealed["signatures_issued"], roll_size=sealed["roll_size"])
        listed.update(
            postal_envelopes=sealed["postal_envelopes"], postal_set_aside=sealed["postal_set_aside"]
        )
        if "issued_codes_hash" in sealed:
            sealed["issued_codes_hash"] = list_hash(listed["issued_codes"])
    results = recount(record)
    record["tally"]["results"] = results
    counted = first(fields, "tally.counted")["data"]
    counted.update(
        seed=record["tally"]["seed"],
        results_hash=result_hash(results),
        contests=[
            {"contest": c["contest"], "elected": c["elected"], "ersattare": c["ersattare"]}
            for c in results["contests"]
        ],
    )
    for entry in fields:
        if entry["type"] == "results.published":
            entry["data"]["results_hash"] = result_hash(results)


def sign(keys: Keys, body: str) -> str:
    return base64.b64encode(keys.log.sign(body.encode("utf-8"))).decode()


def rebuild(
    record: Record,
    keys: Keys,
    edit: Callable[[Record, Entries], None] | None = None,
    *,
    after: Callable[[Record, Entries], None] | None = None,
    override: Callable[[int, dict[str, Any]], None] | None = None,
) -> Record:
    """A copy with ``edit`` applied to it and its log entries, everything derived recomputed
    (the counts and results, the roll sizes and codes' commitment, the issued codes' hash in the
    seal), then ``after`` applied; the log re-chained (``override`` may change an entry once
    chained) and its checkpoints re-signed, each again ending with the last entry it covered."""
    bad = copy.deepcopy(record)
    fields = entries_of(bad)
    covered = [fields[: cp["size"]] for cp in bad["log"]["checkpoints"]]
    if edit is not None:
        edit(bad, fields)
    _sync(bad, fields)
    if after is not None:
        after(bad, fields)
    public = base64.b64encode(keys.log_public).decode()
    for entry in fields:
        if entry["type"] == "election.created":
            entry["data"]["log_key"] = public
    bodies, prev = [], GENESIS_HASH
    for seq, entry in enumerate(fields):
        entry.update(seq=seq, prev=prev)
        if override is not None:
            override(seq, entry)
        bodies.append(canonical_json(entry).decode())
        prev = leaf_hash(bodies[-1].encode())
    bad["log"]["entries"] = bodies
    leaves = [bytes.fromhex(leaf_hash(b.encode())) for b in bodies]
    position = {id(entry): index for index, entry in enumerate(fields)}
    checkpoints: list[dict[str, Any]] = []
    for cp, had in zip(bad["log"]["checkpoints"], covered, strict=True):
        present = [position[id(e)] for e in had if id(e) in position]
        size = 1 + max(present) if present else 0
        if checkpoints and size <= checkpoints[-1]["size"]:
            continue
        root = merkle_root(leaves[:size])
        cp["body"] = checkpoint_body(cp["body"].split("\n")[0], size, root)
        cp.update(signature=sign(keys, cp["body"]), size=size)
        cp["root"] = base64.b64encode(root).decode()
        checkpoints.append(cp)
    bad["log"]["checkpoints"] = checkpoints
    bad["log"]["public_key"] = bad["manifest"]["log_key"] = public
    bad["log"]["fingerprint"] = key_fingerprint(keys.log_public)
    return bad


def resign_checkpoints(record: Record, keys: Keys, body: Callable[[int, str], str]) -> Record:
    """A copy whose checkpoint bodies are replaced by ``body(index, old)``, signed again."""
    bad = copy.deepcopy(record)
    for index, cp in enumerate(bad["log"]["checkpoints"]):
        cp["body"] = body(index, cp["body"])
        cp["signature"] = sign(keys, cp["body"])
    return bad


def voter(n: int = 0) -> str:
    """A made-up member pseudonym."""
    return "m:" + hashlib.sha256(f"conformance {n}".encode()).hexdigest()[:24]


def signed_ballot(record: Record, keys: Keys, cid: str, choices: list[str]) -> dict[str, str]:
    """A board entry with a genuine RSA-PSS signature under the contest's key."""
    ballot = canonical_ballot(record["election"], cid, choices, b64url_encode(os.urandom(16)))
    prefix = os.urandom(32)
    message = prefix + ballot.encode("utf-8")
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    signature = keys.contests[cid].sign(message, pss, hashes.SHA384())
    return {
        "ballot": ballot,
        "ballot_hash": ballot_hash(prefix, ballot.encode("utf-8")),
        "msg_prefix": b64url_encode(prefix),
        "signature": b64url_encode(signature),
    }
