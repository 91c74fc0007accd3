#!/usr/bin/env python3
"""Benchmark ``verify-election`` on a synthetic, fully valid election record (issue 4).

Usage: .venv/bin/python scripts/bench_verify.py [--ballots 1000000] [--contests 13]
       [--bits 2048|3072] [--out bench-out/record-N.json] [--workers N] [--repeat N]

It builds (or reuses, from bench-out/) a record in the exact format of docs/election-record.md:
canonical log entries chained with ``election.created``, ``candidates.published`` (with each
contest's selection rule), ``roll.frozen``, a few
``roll.member_added``, ``board.sealed`` and ``tally.counted`` (the sealed roll sizes being the
frozen sizes plus the additions, as the verifier checks), Ed25519 checkpoints over the right
Merkle roots, the manifest, the sorted
boards, each contest's voter codes (the roll's and the issued ones, committed to as the app does)
and the results of ``ballots.tally.count``. The ballot signatures are standard
RSA-PSS-SHA384 (salt 48) over ``msg_prefix || ballot``, made fast with gmpy2 CRT on the
EMSA-PSS encoding. Then it times the console script ``verify-election RECORD --json`` (wall
clock, a subprocess) and raw OpenSSL RSA-PSS verification of the same signatures through
``cryptography`` on the same number of processes, and prints both and their ratio.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import random
import resource
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import gmpy2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditlog.checkpoint import key_fingerprint, make_checkpoint  # noqa: E402
from auditlog.entries import GENESIS_HASH, canonical_json, make_entry  # noqa: E402
from auditlog.merkle import root as merkle_root  # noqa: E402
from auditlog.record import FORMAT, VERSION  # noqa: E402
from auditlog.votercodes import ALPHABET, codes_hash, format_code, list_hash  # noqa: E402
from ballots.ballot import b64url_decode, b64url_encode, ballot_hash, canonical_ballot  # noqa: E402
from ballots.blindrsa import SALT_LENGTH, emsa_pss_encode, public_key_jwk  # noqa: E402
from ballots.board import board_hash  # noqa: E402
from ballots.tally import count, lottery_key, result_hash, turnout  # noqa: E402

GEN_CHUNK = 2000
VERIFY_CHUNK = 4000  # as auditlog.verify.CHUNK_SIZE
HOST = "bench.invalid"
T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


# --- Generation --------------------------------------------------------------------------


def _sign_chunk(task: tuple[Any, ...]) -> tuple[str, list[dict[str, str]]]:
    """Make ``n`` valid board entries of one contest: random ballots, RSA-PSS signed via CRT."""
    slug, cid, ids, seats, key, n = task
    modulus, p, q, dp, dq, qinv = (gmpy2.mpz(x) for x in key)
    em_bits = int(modulus).bit_length() - 1
    length = (em_bits + 8) // 8
    rng = random.Random(os.urandom(16))
    out = []
    for _ in range(n):
        ballot = canonical_ballot(slug, cid, rng.sample(ids, seats), b64url_encode(os.urandom(16)))
        prefix = os.urandom(32)
        data = ballot.encode("utf-8")
        m = gmpy2.mpz(
            int.from_bytes(emsa_pss_encode(prefix + data, em_bits, os.urandom(48)), "big")
        )
        # Synthetic keys, so plain (not side-channel-hardened) powmod is fine here.
        s1 = gmpy2.powmod(m % p, dp, p)
        s2 = gmpy2.powmod(m % q, dq, q)
        s = s2 + q * ((qinv * (s1 - s2)) % p)
        out.append(
            {
                "ballot": ballot,
                "ballot_hash": ballot_hash(prefix, data),
                "msg_prefix": b64url_encode(prefix),
                "signature": b64url_encode(int(s).to_bytes(length, "big")),
            }
        )
    return cid, out


def _contests(n_contests: int, bits: int) -> list[dict[str, Any]]:
    contests = []
    for i in range(1, n_contests + 1):
        seats = 2 + (i - 1) % 5
        cid = str(i)
        cands = [
            {"id": str(i * 100 + k), "name": f"Kandidat {i}-{k}"} for k in range(seats * 2 + 3)
        ]
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        contests.append(
            {"id": cid, "krets": f"K{i:02d}", "seats": seats, "candidates": cands, "key": key}
        )
    return contests


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def generate(ballots: int, n_contests: int, bits: int, workers: int) -> dict[str, Any]:
    """A synthetic, fully valid election record of ``ballots`` ballots."""
    slug = f"bench-{ballots}"
    contests = _contests(n_contests, bits)
    tasks = []
    for c, n in zip(contests, _split(ballots, n_contests), strict=True):
        nums = c["key"].private_numbers()
        key = (nums.public_numbers.n, nums.p, nums.q, nums.dmp1, nums.dmq1, nums.iqmp)
        ids = [x["id"] for x in c["candidates"]]
        for start in range(0, n, GEN_CHUNK):
            tasks.append((slug, c["id"], ids, c["seats"], key, min(GEN_CHUNK, n - start)))
    boards: dict[str, list[dict[str, str]]] = {c["id"]: [] for c in contests}
    done, start = 0, time.perf_counter()
    with Pool(workers) as pool:
        for cid, entries in pool.imap_unordered(_sign_chunk, tasks):
            boards[cid].extend(entries)
            done += len(entries)
            if done % 50000 < GEN_CHUNK or done == ballots:
                rate = done / (time.perf_counter() - start)
                eta = (ballots - done) / rate
                print(
                    f"  signed {done:,}/{ballots:,} ({rate:,.0f}/s, ~{eta:,.0f} s left)", flush=True
                )
    for cid in boards:
        boards[cid].sort(key=lambda e: e["ballot_hash"])
    return _assemble(slug, contests, boards)


def _assemble(
    slug: str, contests: list[dict[str, Any]], boards: dict[str, list[dict[str, str]]]
) -> dict[str, Any]:
    manifest_contests, published = [], []
    for c in contests:
        public = c["key"].public_key()
        spki = public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        list_hash = hashlib.sha256(canonical_json(c["candidates"])).hexdigest()
        manifest_contests.append(
            {
                "id": c["id"],
                "krets": {"code": c["krets"], "name": f"Krets {c['krets']}"},
                "seats": c["seats"],
                "substitutes": c["seats"],
                "min_selections": c["seats"],
                "max_selections": c["seats"],
                "list_hash": list_hash,
                "candidates": c["candidates"],
                "public_key_spki": base64.b64encode(spki).decode(),
                "public_key_jwk": public_key_jwk(public),
                "key_bits": public.key_size,
            }
        )
        published.append(
            {
                "contest": c["id"],
                "krets": c["krets"],
                "candidates": [x["id"] for x in c["candidates"]],
                "list_hash": list_hash,
                "key_sha256": hashlib.sha256(spki).hexdigest(),
                **_rule(c["seats"]),
            }
        )
    seals, record_counts, board_out = [], [], []
    for c in contests:
        n = len(boards[c["id"]])
        issued, roll = n + n // 50, n + n // 3
        seals.append(
            {
                "contest": c["id"],
                "krets": c["krets"],
                "ballots": n,
                "board_hash": board_hash(boards[c["id"]]),
                "signatures_issued": issued,
                "roll_size": roll,
            }
        )
        record_counts.append(
            {
                "contest": c["id"],
                "krets": c["krets"],
                "signatures_issued": issued,
                "roll_size": roll,
            }
        )
        board_out.append({"contest": c["id"], "krets": c["krets"], "ballots": boards[c["id"]]})
    seed = "bench-seed-" + os.urandom(8).hex()
    result_contests = []
    for c, seal in zip(contests, seals, strict=True):
        chosen = (json.loads(e["ballot"])["choices"] for e in boards[c["id"]])
        counted = count(
            chosen,
            [x["id"] for x in c["candidates"]],
            c["seats"],
            c["seats"],
            contest=c["id"],
            key=lottery_key(seal["board_hash"], seed),
        )
        result_contests.append(
            {
                **counted,
                "krets": c["krets"],
                "board_hash": seal["board_hash"],
                "ballots_cast": seal["ballots"],
                "signatures_issued": seal["signatures_issued"],
                "roll_size": seal["roll_size"],
                "turnout": turnout(seal["ballots"], seal["roll_size"]),
            }
        )
    results = {"version": 1, "election": slug, "seed": seed, "contests": result_contests}
    events = [
        _created(slug, [(c["id"], c["krets"], c["seats"]) for c in contests]),
        ("candidates.published", {"contests": published, "by": "cli"}),
        *_roll_events(seals, record_counts),
        ("board.sealed", {"contests": seals}),
        (
            "tally.counted",
            {
                "seed": seed,
                "results_hash": result_hash(results),
                "contests": [
                    {"contest": r["contest"], "elected": r["elected"], "ersattare": r["ersattare"]}
                    for r in result_contests
                ],
            },
        ),
    ]
    log, log_raw = _log(slug, events)
    return {
        "format": FORMAT,
        "version": VERSION,
        "election": slug,
        "manifest": {
            "version": 1,
            "election": slug,
            "title": f"Syntetiskt val ({slug})",
            "timezone": "Europe/Stockholm",
            "voting_opens": T0.isoformat(),
            "voting_closes": T0.replace(day=8).isoformat(),
            "log_key": base64.b64encode(log_raw).decode(),
            "contests": manifest_contests,
        },
        "log": log,
        "board": board_out,
        "contests": record_counts,
        "tally": {"seed": seed, "results": results},
    }


def _rule(seats: int) -> dict[str, int]:
    """The party's rule: mark as many names as there are seats; as many ersättare as seats."""
    return {"seats": seats, "min_selections": seats, "max_selections": seats, "substitutes": seats}


def _created(slug: str, contests: list[tuple[str, str, int]]) -> tuple[str, dict[str, Any]]:
    """The ``election.created`` event (its log_key is filled in by ``_log``)."""
    schedule = {
        "nomination_opens": T0.replace(month=1).isoformat(),
        "nomination_closes": T0.replace(month=2).isoformat(),
        "voting_opens": T0.isoformat(),
        "voting_closes": T0.replace(day=8).isoformat(),
    }
    return (
        "election.created",
        {
            "title": f"Syntetiskt val ({slug})",
            "timezone": "Europe/Stockholm",
            "log_key": "",
            "schedule": schedule,
            "reminder_hours": [72, 24],
            "contests": [
                {"id": int(cid), "krets": krets, **_rule(seats)} for cid, krets, seats in contests
            ],
        },
    )


def _voter_codes(count: int, taken: set[str]) -> list[str]:
    """``count`` fresh voter codes, none in ``taken`` (which gets them too)."""
    draw = random.Random(os.urandom(16))
    codes: list[str] = []
    while len(codes) < count:
        code = format_code("".join(draw.choices(ALPHABET, k=10)))
        if code not in taken:
            taken.add(code)
            codes.append(code)
    return codes


def _roll_events(
    seals: list[dict[str, Any]], listed: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """``roll.frozen`` and ``roll.member_added`` events that add up to the sealed roll sizes,
    as in voting/ballot/services.py: each contest's size at the freeze, then 0 to 2 members
    added by the committee (by pseudonym) while voting is open; each commits to the contest's
    voter codes, which go into ``listed`` (the record's ``contests``), with the issued ones and
    their hash in the seal."""
    frozen, added = [], []
    taken: set[str] = set()
    for index, (seal, item) in enumerate(zip(seals, listed, strict=True)):
        extra = min(index % 3, seal["roll_size"])
        codes = _voter_codes(seal["roll_size"], taken)
        at_freeze = sorted(codes[: seal["roll_size"] - extra])
        salt = os.urandom(32).hex()
        frozen.append(
            {
                "contest": seal["contest"],
                "krets": seal["krets"],
                "size": len(at_freeze),
                "codes_hash": codes_hash(at_freeze, salt),
            }
        )
        roll = at_freeze
        for code in codes[len(at_freeze) :]:
            roll = sorted([*roll, code])
            salt = os.urandom(32).hex()
            data = {
                "contest": seal["contest"],
                "voter": "m:" + os.urandom(12).hex(),
                "size": len(roll),
                "codes_hash": codes_hash(roll, salt),
            }
            added.append(("roll.member_added", data))
        issued = sorted(random.Random(index).sample(roll, seal["signatures_issued"]))
        seal["issued_codes_hash"] = list_hash(issued)
        item.update(roll_codes=roll, roll_codes_salt=salt, issued_codes=issued)
    roll_hash = hashlib.sha256(os.urandom(32)).hexdigest()  # the pseudonyms are not public
    return [
        ("roll.frozen", {"roll_hash": roll_hash, "contests": frozen}),
        ("voting.opened", {}),
        *added,
    ]


def _log(slug: str, events: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], bytes]:
    """The record's ``log``: the events chained, with checkpoints signed by a fresh log key at
    ``roll.frozen``, at ``board.sealed`` (as the app writes them) and over the whole log."""
    log_private = Ed25519PrivateKey.generate()
    log_raw = log_private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    for kind, data in events:
        if kind == "election.created":
            data["log_key"] = base64.b64encode(log_raw).decode()
    bodies, prev = [], GENESIS_HASH
    for seq, (kind, data) in enumerate(events):
        entry = make_entry(seq, prev, kind, data, T0.replace(minute=seq))
        bodies.append(entry.body)
        prev = entry.hash
    leaves = [bytes.fromhex(hashlib.sha256(b"\x00" + b).hexdigest()) for b in bodies]
    kinds = [kind for kind, _ in events]
    checkpoints = []
    for size, reason in (
        (kinds.index("roll.frozen") + 1, "roll.frozen"),
        (kinds.index("board.sealed") + 1, "board.sealed"),
        (len(bodies), "record.export"),
    ):
        root = merkle_root(leaves[:size])
        cp = make_checkpoint(f"{HOST}/{slug}", size, root, log_private)
        checkpoints.append(
            {
                "body": cp.body,
                "signature": base64.b64encode(cp.signature).decode(),
                "size": size,
                "root": base64.b64encode(root).decode(),
                "created_at": T0.replace(minute=size).isoformat(),
                "reason": reason,
            }
        )
    log = {
        "name": slug,
        "public_key": base64.b64encode(log_raw).decode(),
        "fingerprint": key_fingerprint(log_raw),
        "entries": [b.decode("utf-8") for b in bodies],
        "checkpoints": checkpoints,
    }
    return log, log_raw


def add_roll_events(record: dict[str, Any]) -> bool:
    """Bring a record cached by an older version of this script up to the format the verifier
    reads now: roll events, a full ``election.created`` and the rule in
    ``candidates.published``; the log rebuilt, re-signed with a fresh log key. The ballots,
    boards and results stay as they are. False if it is up to date already."""
    events = [(e["type"], e["data"]) for e in map(json.loads, record["log"]["entries"])]
    kinds = [kind for kind, _ in events]
    published = events[kinds.index("candidates.published")][1]
    codes = "roll_codes" in record["contests"][0]
    if "roll.frozen" in kinds and "by" in published and "log_key" in events[0][1] and codes:
        return False
    if "roll.frozen" not in kinds or not codes:
        events = [e for e in events if e[0] not in ("voting.opened", "roll.frozen")]
        events = [e for e in events if e[0] != "roll.member_added"]
        seal = [kind for kind, _ in events].index("board.sealed")
        by_id = {c["contest"]: c for c in record["contests"]}
        sealed = events[seal][1]["contests"]
        events[seal:seal] = _roll_events(sealed, [by_id[c["contest"]] for c in sealed])
    manifest = record["manifest"]["contests"]
    events[0] = _created(
        record["election"], [(c["id"], c["krets"]["code"], c["seats"]) for c in manifest]
    )
    published["by"] = "cli"
    for item in published["contests"]:
        item.update(_rule(next(c["seats"] for c in manifest if c["id"] == item["contest"])))
    log, _ = _log(record["election"], events)
    record["log"] = log
    record["manifest"]["log_key"] = log["public_key"]
    return True


# --- Raw verification --------------------------------------------------------------------


def _raw_chunk(task: tuple[bytes, list[tuple[bytes, bytes]]]) -> int:
    """Verify a chunk with OpenSSL through ``cryptography``; the number that verify."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    spki, pairs = task
    key = load_der_public_key(spki)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=SALT_LENGTH)
    digest = hashes.SHA384()
    good = 0
    for message, signature in pairs:
        try:
            key.verify(signature, message, pss, digest)  # type: ignore[union-attr,call-arg]
        except InvalidSignature:
            continue
        good += 1
    return good


def raw_verify(record: dict[str, Any], workers: int) -> tuple[float, int, int]:
    """Seconds for raw RSA-PSS verification of every board signature, and good/total."""
    spkis = {
        c["id"]: base64.b64decode(c["public_key_spki"]) for c in record["manifest"]["contests"]
    }
    tasks = []
    for board in record["board"]:
        pairs = [
            (
                b64url_decode(e["msg_prefix"]) + e["ballot"].encode("utf-8"),
                b64url_decode(e["signature"]),
            )
            for e in board["ballots"]
        ]
        for start in range(0, len(pairs), VERIFY_CHUNK):
            tasks.append((spkis[board["contest"]], pairs[start : start + VERIFY_CHUNK]))
    total = sum(len(t[1]) for t in tasks)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        good = sum(pool.map(_raw_chunk, tasks))
    return time.perf_counter() - start, good, total


# --- Main --------------------------------------------------------------------------------


def _children_cpu() -> float:
    """User + system CPU seconds of waited-for child processes (and theirs), so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _has_roll_events(path: Path) -> bool:
    """Whether the record's log holds a roll.frozen event and a candidates.published event of
    the current form (the log comes before the board)."""
    entries = ("roll.frozen", '"by":"cli"', '"issued_codes_hash"')  # as they appear in an entry
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    board = head.find(b'"board":')
    if board < 0:
        with path.open(encoding="utf-8") as handle:
            bodies = json.load(handle)["log"]["entries"]
        return all(any(m in e for e in bodies) for m in entries)
    # In the file, an entry is a JSON string: its quotes are escaped.
    return all(m.replace('"', '\\"').encode() in head[:board] for m in entries)


def _upgrade(path: Path) -> None:
    with path.open(encoding="utf-8") as handle:
        record = json.load(handle)
    if add_roll_events(record):
        _write(path, record)


def _write(out: Path, record: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    tmp.replace(out)


def main() -> int:
    """Generate (or reuse) the record, time the verifier and raw OpenSSL, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=1_000_000)
    parser.add_argument("--contests", type=int, default=13)
    parser.add_argument("--bits", type=int, choices=(2048, 3072), default=3072)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of verifier and raw (0: only build the record)"
    )
    args = parser.parse_args()
    out = args.out or ROOT / "bench-out" / f"record-{args.ballots}-{args.contests}-{args.bits}.json"
    command = shlex.join([sys.executable, *sys.argv])
    print(f"command: {command}")
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(
        f"machine: nproc {os.cpu_count()}, CPU {_cpu_model()}, Python {platform.python_version()}"
    )
    print(f"load average before: {os.getloadavg()}")

    if out.exists():
        print(f"reusing {out} ({out.stat().st_size / 1e6:,.0f} MB)")
        if not _has_roll_events(out):
            print("  an older script made it: adding what the verifier reads now, new log key")
            # In a child process, so that this one does not time the verifier with the
            # record's memory still held.
            with ProcessPoolExecutor(max_workers=1) as pool:
                pool.submit(_upgrade, out).result()
    else:
        print(f"generating {args.ballots:,} ballots, {args.contests} contests, RSA-{args.bits} …")
        start = time.perf_counter()
        record = generate(args.ballots, args.contests, args.bits, args.workers)
        _write(out, record)
        del record
        print(f"generated in {time.perf_counter() - start:,.1f} s: {out}")
    if args.repeat < 1:
        return 0

    verifier = ROOT / ".venv" / "bin" / "verify-election"
    cmd = [str(verifier), str(out), "--json", "--workers", str(args.workers)]
    record: dict[str, Any] | None = None
    rows: list[tuple[float, float, float, float]] = []
    ok = True
    for run in range(1, args.repeat + 1):
        # Each run times the verifier, then raw OpenSSL, so that each ratio compares two
        # measurements made under about the same load from whatever else shares the machine.
        load_before = os.getloadavg()
        children = _children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        verify_s = time.perf_counter() - start
        verify_cpu = _children_cpu() - children
        if run == 1:
            try:
                report = json.loads(proc.stdout)
                for c in report["checks"]:
                    print(f"  {'ok ' if c['ok'] else 'BAD'} {c['name']}: {c['detail'][:150]}")
            except ValueError:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
        if record is None:
            with out.open(encoding="utf-8") as handle:
                record = json.load(handle)
        cpu = _children_cpu() + _own_cpu()
        raw_s, good, total = raw_verify(record, args.workers)
        raw_cpu = _children_cpu() + _own_cpu() - cpu
        ok = ok and proc.returncode == 0 and good == total
        rows.append((verify_s, raw_s, verify_cpu, raw_cpu))
        print(
            f"run {run}: verify-election exit {proc.returncode} {verify_s:8.2f} s "
            f"({total / verify_s:,.0f} ballots/s, {verify_cpu:.1f} CPU-s); raw OpenSSL "
            f"{good:,}/{total:,} verified {raw_s:8.2f} s ({total / raw_s:,.0f}/s, "
            f"{raw_cpu:.1f} CPU-s); ratio {verify_s / raw_s:.2f} wall, "
            f"{verify_cpu / raw_cpu:.2f} CPU; load {load_before[0]:.1f} -> "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
    verify_times = sorted(r[0] for r in rows)
    raw_times = sorted(r[1] for r in rows)
    ratios = sorted(r[0] / r[1] for r in rows)
    print(
        f"ballots: {total:,} in {args.contests} contests, RSA-{args.bits}, workers {args.workers}"
    )
    print(
        f"verify-election: best {verify_times[0]:8.2f} s, median "
        f"{statistics.median(verify_times):8.2f} s (wall clock, {len(rows)} runs)"
    )
    print(
        f"raw RSA-PSS:     best {raw_times[0]:8.2f} s, median {statistics.median(raw_times):8.2f} s"
    )
    print(f"ratio verifier / raw: best {ratios[0]:.2f}, median {statistics.median(ratios):.2f}")
    cpu_ratios = sorted(r[2] / r[3] for r in rows)
    print(
        f"CPU-s verifier / raw: median {statistics.median(r[2] for r in rows):.1f} / "
        f"{statistics.median(r[3] for r in rows):.1f}, ratio median "
        f"{statistics.median(cpu_ratios):.2f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
