#!/usr/bin/env python3
"""Load test: 500 concurrent voters against gunicorn on PostgreSQL, driven by locust.

Usage: .venv/bin/python scripts/bench_load.py [--users 500] [--spawn-rate 50] [--time 60s]
       [--bits 3072] [--workers 2*cores+1] [--threads 4] [--out bench-out/load]

It creates a scratch database with an election in its voting window and one real voting link
per user (tokens made as ``send_links`` makes them, written to a file ``scripts/locustfile.py``
reads), starts gunicorn (gthread workers, rate limits on, their counters in Redis as in
production), runs ``locust --headless`` as a subprocess with ``--csv``, and prints p50/p99 per
request type, the error rate, and the votes locust saw against the ballots on the board. It
drops the database at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_setup import PG_ADMIN_URL, Gunicorn, new_config, scratch_database, setup  # noqa: E402

REDIS = ("127.0.0.1", 6379)


@dataclass
class Row:
    """One line of locust's ``_stats.csv``."""

    name: str
    requests: int
    failures: int
    p50: float
    p99: float
    rps: float


@dataclass
class LoadResult:
    rows: list[Row]
    board: int  # ballots on the board after the run
    failures_csv: str  # locust's failures file, for the report
    returncode: int
    limited_after: int | None  # link opens from one address until the first 429, after the run

    @property
    def total(self) -> Row:
        return next(r for r in self.rows if r.name == "Aggregated")

    @property
    def votes(self) -> int:
        """Casts locust saw succeed (a failed cast is counted as a failure instead)."""
        cast = next((r for r in self.rows if r.name == "cast"), None)
        return 0 if cast is None else cast.requests - cast.failures

    @property
    def error_rate(self) -> float:
        return self.total.failures / max(1, self.total.requests)


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _percentile(times: dict[float, int], q: float) -> float:
    """The response time (ms) below which a share ``q`` of the requests finished."""
    total = sum(times.values())
    if not total:
        return 0.0
    rank, seen = max(1, math.ceil(q * total)), 0
    for value in sorted(times):
        seen += times[value]
        if seen >= rank:
            return value
    return max(times)


def _read_stats(path: Path) -> list[Row]:
    """Per request type from locust's ``--json-file`` (written after the last user stopped).

    Why not the CSV: locust rewrites it once a second, so its last version can miss the final
    second; the JSON is written once, from the final figures.
    """
    rows, merged = [], Counter[float]()
    for entry in json.loads(path.read_text(encoding="utf-8")):
        times = {float(k): int(v) for k, v in entry["response_times"].items()}
        merged.update(times)
        elapsed = max(1e-9, entry["last_request_timestamp"] - entry["start_time"])
        rows.append(
            Row(
                name=entry["name"],
                requests=entry["num_requests"],
                failures=entry["num_failures"],
                p50=_percentile(times, 0.50),
                p99=_percentile(times, 0.99),
                rps=entry["num_requests"] / elapsed,
            )
        )
    rows.sort(key=lambda r: r.name)
    rows.append(
        Row(
            name="Aggregated",
            requests=sum(r.requests for r in rows),
            failures=sum(r.failures for r in rows),
            p50=_percentile(merged, 0.50),
            p99=_percentile(merged, 0.99),
            rps=sum(r.rps for r in rows),
        )
    )
    return rows


def run_load(
    *,
    users: int,
    spawn_rate: int,
    run_time: str,
    bits: int,
    workers: int,
    threads: int,
    out: Path,
    database_url: str = PG_ADMIN_URL,
) -> LoadResult:
    """Set up, serve, run locust, count the board; everything torn down on return."""
    out.mkdir(parents=True, exist_ok=True)
    config = new_config()
    # Why not Secure cookies: locust talks plain HTTP to gunicorn on loopback, and a client
    # sends a Secure cookie only over https. In production TLS ends at the proxy and they are on.
    env: dict[str, str] = {"VOTING_SESSION_COOKIE_SECURE": "false"}
    if _redis_reachable():
        # As deployed: the limits' counters shared by all workers. A fresh prefix per run, so
        # no count carries over from another run or another user of the same Redis.
        env["VOTING_RATELIMIT_STORAGE_URI"] = "redis://{}:{}/0".format(*REDIS)
        env["VOTING_RATELIMIT_KEY_PREFIX"] = f"kv-load-{uuid.uuid4().hex[:8]}"
    with scratch_database(database_url, prefix="kv_load") as url:
        t0 = time.monotonic()
        slug, voters = setup(url, users, bits, config)
        print(f"setup: {len(voters)} voters, {bits}-bit keys, {time.monotonic() - t0:.1f} s")
        voters_file = out / "voters.json"
        voters_file.write_text(
            json.dumps(
                {
                    "slug": slug,
                    "voters": [
                        {"token": v.token, "contest": v.contest, "choices": v.choices}
                        for v in voters
                    ],
                }
            ),
            encoding="utf-8",
        )
        voters_file.chmod(0o600)  # real voting links
        try:
            with Gunicorn(url, config, workers=workers, threads=threads, env=env) as server:
                prefix = out / "locust"
                command = [
                    str(ROOT / ".venv/bin/locust"),
                    "-f",
                    str(ROOT / "scripts/locustfile.py"),
                    "--headless",
                    "-u",
                    str(users),
                    "-r",
                    str(spawn_rate),
                    "-t",
                    run_time,
                    "--stop-timeout",
                    "30",
                    "--host",
                    server.base_url,
                    "--csv",
                    str(prefix),
                    "--only-summary",
                    "--json-file",
                    str(prefix),
                    "--loglevel",
                    "WARNING",
                ]
                print("$", " ".join(command[1:]))
                done = subprocess.run(  # noqa: S603 - our own locust, fixed arguments
                    command,
                    cwd=ROOT,
                    env={**os.environ, "LOAD_VOTERS": str(voters_file)},
                    timeout=_seconds(run_time) + 120,
                    check=False,
                )
                with urlopen(f"{server.base_url}/api/v1/elections/{slug}/board") as r:  # noqa: S310 - our loopback server
                    board: dict[str, Any] = json.loads(r.read())
                limited_after = _links_until_limited(server.port)
        finally:
            voters_file.unlink(missing_ok=True)
    failures = prefix.with_name("locust_failures.csv")
    return LoadResult(
        rows=_read_stats(prefix.with_name("locust.json")),
        board=sum(len(c["ballot_hashes"]) for c in board["contests"]),
        failures_csv=failures.read_text(encoding="utf-8") if failures.exists() else "",
        returncode=done.returncode,
        limited_after=limited_after,
    )


def _links_until_limited(port: int, tries: int = 100) -> int | None:
    """Open made-up links from 127.0.0.1 until the per-address limit answers 429.

    It shows the limit was on during the run (with its counters where the workers share them):
    each simulated voter stayed under it because each has an address of its own.
    """
    for i in range(1, tries + 1):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", f"/rosta/not-a-token-{i}")
            if conn.getresponse().status == 429:
                return i
        finally:
            conn.close()
    return None


def _seconds(run_time: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(run_time[:-1]) * units[run_time[-1]] if run_time[-1] in units else int(run_time)


def report(result: LoadResult) -> str:
    lines = [
        f"{'request':<34} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>7}",
    ]
    for r in result.rows:
        lines.append(
            f"{r.name:<34} {r.requests:>7} {r.failures:>5} "
            f"{r.p50:>7.0f} {r.p99:>7.0f} {r.rps:>7.1f}"
        )
    lines.append(f"error rate: {result.error_rate:.4%} ({result.total.failures} failures)")
    lines.append(f"votes cast (locust): {result.votes}; ballots on the board: {result.board}")
    lines.append(
        f"link limit: 429 after {result.limited_after} opens from one address"
        if result.limited_after
        else "link limit: no 429 from one address (limits off?)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--spawn-rate", type=int, default=50)
    parser.add_argument("--time", default="60s")
    parser.add_argument("--bits", type=int, default=3072)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "load")
    parser.add_argument("--database-url", default=PG_ADMIN_URL)
    args = parser.parse_args()
    result = run_load(
        users=args.users,
        spawn_rate=args.spawn_rate,
        run_time=args.time,
        bits=args.bits,
        workers=args.workers,
        threads=args.threads,
        out=args.out,
        database_url=args.database_url,
    )
    print(report(result))
    if result.failures_csv.count("\n") > 1:
        print(result.failures_csv)
    ok = result.total.failures == 0 and result.votes == result.board and result.limited_after
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
