#!/usr/bin/env python3
"""Drive N voters through blind-sign and cast over HTTP against gunicorn and PostgreSQL.

Usage: .venv/bin/python scripts/bench_vote.py [--voters 2000] [--workers 4] [--threads 16]
       [--bits 3072] [--crash] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

It creates a scratch database, an election in its voting window with one contest per krets and
the voters on its roll, starts gunicorn with several workers, and then measures, in the same run:
complete votes per second with p50/p99 latency (one vote = blind-sign + cast), and the same
server's requests per second on a trivial endpoint (/healthz). It drops the database at the end.

With ``--crash`` it measures nothing: it SIGKILLs a gunicorn worker once a quarter of the voters
are done and the whole server (master and workers) at half, starts it again, and checks that
every voter, retrying with its saved state (scripts/crash_vote.py), was counted exactly once.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_setup import (  # noqa: E402
    Gunicorn,
    Voter,
    keepalive_transport,
    new_config,
    scratch_database,
    setup,
)

from ballots.client import VoterClient  # noqa: E402


def trivial_rps(port: int, threads: int, seconds: float) -> float:
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def loop(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            counts[i] += 1

    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(loop, range(threads)))
    return sum(counts) / (time.monotonic() - start)


def crash(server: Gunicorn, slug: str, voters: list[Voter], threads: int) -> int:
    """The crash run (tests/faults/test_crash_during_voting.py asserts more); 0 if it held."""
    from crash_vote import vote_through_crashes

    start = time.monotonic()
    run = vote_through_crashes(server, slug, voters, threads)
    outcomes = run.outcomes
    print(f"{len(voters)} voters in {time.monotonic() - start:.1f} s; " + "; ".join(run.chaos))
    print(
        f"clients that retried: {sum(1 for o in outcomes if o.retries)} "
        f"({sum(o.retries for o in outcomes)} retries); "
        f"that cast their saved ballot again: {sum(1 for o in outcomes if o.resubmitted)}"
    )
    receipts = [o.receipt["ballot_hash"] for o in outcomes if o.receipt]
    on_board = sum(
        1 for o in outcomes if o.receipt and o.receipt["ballot_hash"] in run.board[o.contest]
    )
    board = sum(len(hashes) for hashes in run.board.values())
    problems = [p for o in outcomes for p in o.problems]
    print(f"receipts: {len(receipts)}, on the board: {on_board}; ballots on the board: {board}")
    if problems:
        print(f"problems: {len(problems)}, first: {problems[:3]}")
    held = not problems and len(receipts) == on_board == board == len(set(receipts)) == len(voters)
    print("held: every voter counted exactly once" if held else "FAILED")
    return 0 if held else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--bits", type=int, default=3072)
    parser.add_argument("--worker-threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument(
        "--crash",
        action="store_true",
        help="SIGKILL a worker at 1/4 of the voters and the whole server at 1/2; clients retry",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()

    config = new_config()
    with scratch_database(args.database_url) as url:
        t0 = time.monotonic()
        slug, voters = setup(url, args.voters, args.bits, config)
        print(f"setup: {len(voters)} voters, {args.bits}-bit keys, {time.monotonic() - t0:.1f} s")
        # Why no rate limit here: the benchmark measures the voting path, which has none (the
        # per-IP limit is on opening links); scripts/bench_load.py runs with the limits on.
        server = Gunicorn(
            url,
            config,
            workers=args.workers,
            threads=args.worker_threads,
            env={"VOTING_RATELIMIT_ENABLED": "false"},
        )
        if args.crash:
            with server:
                sys.exit(crash(server, slug, voters, args.threads))
        with server:
            port, base = server.port, server.base_url
            rps = trivial_rps(port, args.threads, 5.0)
            transport = keepalive_transport()
            latencies: list[float] = []
            errors: list[str] = []
            manifests: dict = {}

            def vote(v: Voter) -> None:
                client = VoterClient(base, v.token, transport=transport, manifests=manifests)
                start = time.perf_counter()
                try:
                    client.vote(slug, v.contest, v.choices)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors.append(repr(exc))
                    return
                latencies.append(time.perf_counter() - start)

            # Warm the manifest cache outside the timed part.
            VoterClient(base, None, transport=transport, manifests=manifests).manifest(slug)
            start = time.monotonic()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(vote, voters))
            elapsed = time.monotonic() - start
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
        print(f"votes: {len(latencies)} ok, {len(errors)} failed in {elapsed:.1f} s")
        print(f"votes/s: {len(latencies) / elapsed:.0f}")
        print(
            f"latency per vote: p50 {p(0.50):.1f} ms, p99 {p(0.99):.1f} ms, "
            f"median {statistics.median(latencies) * 1000:.1f} ms"
        )
        print(f"trivial endpoint (/healthz) requests/s: {rps:.0f}")
        print(f"ratio: one vote costs {rps / (len(latencies) / elapsed):.1f} trivial requests")
        if errors:
            print("first errors:", errors[:3])


if __name__ == "__main__":
    main()
