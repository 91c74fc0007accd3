#!/usr/bin/env python3
"""Drive N voters through blind-sign and cast over HTTP against gunicorn and PostgreSQL.

Usage: .venv/bin/python scripts/bench_vote.py [--voters 2000] [--workers 4] [--threads 16]
       [--bits 3072] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

It creates a scratch database, an election in its voting window with one contest per krets and
the voters on its roll, starts gunicorn with several workers, and then measures, in the same run:
complete votes per second with p50/p99 latency (one vote = blind-sign + cast), and the same
server's requests per second on a trivial endpoint (/healthz). It drops the database at the end.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ballots.client import VoterClient  # noqa: E402

KRETSAR = ["NORRMALM", "SODERMALM", "BROMMA", "FARSTA"]


def keepalive_transport() -> object:
    """A ballots.client transport with one persistent HTTP/1.1 connection per thread."""
    local = threading.local()

    def transport(method: str, url: str, headers: Mapping[str, str], body: bytes | None):
        parts = urlsplit(url)
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, path, body=body, headers=dict(headers))
            response = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            local.conn = None
            raise
        return response.status, response.read()

    return transport


def setup(
    url: str, voters: int, bits: int, config: dict[str, str]
) -> tuple[str, list[tuple[str, str, list[str]]]]:
    """Create the election, members, candidates, keys and links; return (slug, voter list)."""
    from voting import create_app
    from voting.ballot.keys import generate_contest_keys
    from voting.ballot.models import VoterLink
    from voting.ballot.services import freeze_roll
    from voting.crypto import new_token, token_hash
    from voting.db import db, upgrade
    from voting.elections.services import create_election
    from voting.members.models import Member
    from voting.nominations.models import Nomination
    from voting.nominations.review import candidate_list, list_hash

    upgrade(url)
    now = datetime.now(UTC)
    local = lambda d: (now + d).strftime("%Y-%m-%dT%H:%M:%S+00:00")  # noqa: E731
    toml = f"""
slug = "bench"
title = "Benchmark"
[schedule]
nomination_opens = "{local(timedelta(days=-30))}"
nomination_closes = "{local(timedelta(days=-20))}"
voting_opens = "{local(timedelta(days=-1))}"
voting_closes = "{local(timedelta(days=10))}"
""" + "".join(f'[[krets]]\ncode = "{k}"\nname = "{k.title()}"\nseats = 3\n' for k in KRETSAR)
    app = create_app({**config, "DATABASE_URL": url})
    voter_list = []
    with app.app_context(), db.transaction() as s:
        election = create_election(s, toml, now - timedelta(days=31))
        s.flush()
        members = [
            {
                "member_id": f"M{i:06d}",
                "first_name": "Voter",
                "last_name": f"N{i}",
                "email": None,
                "krets_code": KRETSAR[i % len(KRETSAR)],
                "updated_at": now,
            }
            for i in range(voters)
        ]
        s.execute(Member.__table__.insert(), members)
        candidates: dict[str, list[str]] = {}
        contests = {c.krets_code: c for c in election.contests}
        for krets, contest in contests.items():
            for j in range(6):
                member = Member(
                    member_id=f"C{krets}{j}",
                    first_name="Cand",
                    last_name=f"{krets}{j}",
                    krets_code=krets,
                    updated_at=now,
                )
                s.add(member)
                s.flush()
                nomination = Nomination(
                    election_id=election.id,
                    contest_id=contest.id,
                    member_id=member.member_id,
                    status="approved",
                    created_at=now,
                )
                s.add(nomination)
                s.flush()
                candidates.setdefault(krets, []).append(str(nomination.id))
            s.flush()
            contest.list_hash = list_hash(candidate_list(s, contest))
        election.candidates_published_at = now - timedelta(days=2)
        generate_contest_keys(s, election, now, bits=bits)
        freeze_roll(s, election, now)
        rows = []
        for m in members:
            token = new_token()
            rows.append(
                {
                    "election_id": election.id,
                    "member_id": m["member_id"],
                    "token_hash": token_hash(token),
                    "created_at": now,
                }
            )
            contest = contests[m["krets_code"]]
            voter_list.append((token, str(contest.id), candidates[m["krets_code"]][:3]))
        s.execute(VoterLink.__table__.insert(), rows)
    return "bench", voter_list


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not come up")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--bits", type=int, default=3072)
    parser.add_argument("--worker-threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()

    import psycopg

    name = f"kv_bench_{uuid.uuid4().hex[:8]}"
    admin = args.database_url
    url = admin.rsplit("/", 1)[0] + "/" + name
    config = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    server = None
    try:
        t0 = time.monotonic()
        slug, voters = setup(url, args.voters, args.bits, config)
        print(f"setup: {len(voters)} voters, {args.bits}-bit keys, {time.monotonic() - t0:.1f} s")
        port = free_port()
        env = {
            **os.environ,
            "VOTING_DATABASE_URL": url,
            "VOTING_SECRET_KEY": config["SECRET_KEY"],
            "VOTING_DATA_KEY": config["DATA_KEY"],
            "VOTING_RATELIMIT_ENABLED": "false",
        }
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "-w",
                str(args.workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(args.worker_threads),
                "-b",
                f"127.0.0.1:{port}",
                "--keep-alive",
                "30",
                "--log-level",
                "warning",
                "voting:create_app()",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        wait_for(port)
        base = f"http://127.0.0.1:{port}"
        rps = trivial_rps(port, args.threads, 5.0)
        transport = keepalive_transport()
        latencies: list[float] = []
        errors: list[str] = []

        manifests: dict = {}

        def vote(v: tuple[str, str, list[str]]) -> None:
            token, contest, choices = v
            client = VoterClient(base, token, transport=transport, manifests=manifests)
            start = time.perf_counter()
            try:
                client.vote(slug, contest, choices)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(repr(exc))
                return
            latencies.append(time.perf_counter() - start)

        # Warm each thread's manifest cache and connection outside the timed part.
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
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
