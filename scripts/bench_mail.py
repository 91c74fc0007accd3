#!/usr/bin/env python3
"""Benchmark mail at volume on PostgreSQL: queue 100,000 voting-link mails, then deliver them.

Usage: .venv/bin/python scripts/bench_mail.py [--members 100000] [--queue-runs 3]
       [--workers 1,2,4] [--delivery-runs 1] [--record-batch 20]
       [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

It creates a scratch database (dropped at the end), writes ``--members`` members with email
addresses into it (one multi-row INSERT per 1,000; the CSV import has its own benchmark,
scripts/bench_import.py), and creates an election with its candidates published.

* Queueing: for each run, a fresh election's roll is frozen (not timed), then
  ``links.send_links`` is timed including its commit: one hashed link token and one encrypted
  outbox row per member, through the same code the CLI, the web admin and the scheduler use.
* Delivery: for each worker count N, the outbox of one election is reset to "queued", an
  aiosmtpd sink is started in a subprocess, and N ``voting mail worker --until-idle --rate 0``
  processes deliver everything. Timed from starting the workers until the last one exits
  (process start-up included), and also from the sink's first to its last received message.
  The sink counts each outbox id (carried in the Message-ID) to show that none came twice.

Medians over the runs are printed, and mails/s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_setup import free_port, scratch_database  # noqa: E402 - scripts/ is on sys.path

from voting.lifecycle.roll import send_links

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
KRETSAR = ["NORRMALM", "SODERMALM", "BROMMA", "FARSTA"]
OUTBOX_ID_RE = re.compile(rb"^Message-ID:\s*<[^>]*\.outbox(\d+)@", re.I | re.M)


# --- the SMTP sink (run in its own process with --sink) ----------------------------------


def run_sink(port: int, stats_path: str) -> None:
    """An aiosmtpd server that counts messages per outbox id; writes stats on SIGTERM."""
    from aiosmtpd.controller import Controller

    counts: dict[int, int] = {}
    times: list[float] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            match = OUTBOX_ID_RE.search(envelope.content)
            key = int(match.group(1)) if match else -1
            counts[key] = counts.get(key, 0) + 1
            now = time.monotonic()
            if not times:
                times.append(now)
            if len(times) < 2:
                times.append(now)
            times[1] = now
            return "250 Message accepted"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = {"flag": False}

    def _stop(signum: int, frame: Any) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    Path(stats_path + ".ready").write_text("ok")
    while not stop["flag"]:
        time.sleep(0.1)
    controller.stop()
    received = sum(counts.values())
    span = times[1] - times[0] if len(times) == 2 else 0.0
    Path(stats_path).write_text(
        json.dumps(
            {
                "received": received,
                "distinct": len(counts),
                "twice_or_more": sum(1 for c in counts.values() if c > 1),
                "without_id": counts.get(-1, 0),
                "first_to_last_s": span,
            }
        )
    )


# --- setup ---------------------------------------------------------------------------------


def election_toml(slug: str, now: datetime) -> str:
    iso = lambda d: (now + d).strftime("%Y-%m-%dT%H:%M:%S+00:00")  # noqa: E731
    return f"""
slug = "{slug}"
title = "Benchmark {slug}"
[schedule]
nomination_opens = "{iso(timedelta(days=-30))}"
nomination_closes = "{iso(timedelta(days=-20))}"
voting_opens = "{iso(timedelta(days=-1))}"
voting_closes = "{iso(timedelta(days=10))}"
""" + "".join(f'[[krets]]\ncode = "{k}"\nname = "{k.title()}"\nseats = 3\n' for k in KRETSAR)


def insert_members(app: Any, count: int, now: datetime) -> float:
    from voting.db import db
    from voting.members.models import Krets, Member

    start = time.monotonic()
    with app.app_context(), db.transaction() as s:
        s.add_all([Krets(code=k, name=k.title()) for k in KRETSAR])
        s.flush()
        for first in range(0, count, 1000):
            s.execute(
                Member.__table__.insert(),
                [
                    {
                        "member_id": f"M{i:07d}",
                        "first_name": "Medlem",
                        "last_name": f"N{i}",
                        "email": f"m{i}@example.org",
                        "krets_code": KRETSAR[i % len(KRETSAR)],
                        "updated_at": now,
                    }
                    for i in range(first, min(count, first + 1000))
                ],
            )
    return time.monotonic() - start


def queue_run(app: Any, slug: str, now: datetime) -> tuple[int, int, float]:
    """Create an election, freeze its roll (untimed); time send_links + commit. (id, n, s)."""
    from voting.db import db
    from voting.elections.services import create_election
    from voting.lifecycle.roll import freeze_roll

    with app.app_context():
        with db.transaction() as s:
            election = create_election(
                s, election_toml(slug, now), now - timedelta(days=31), by="cli"
            )
            s.flush()
            for contest in election.contests:
                contest.list_hash = "0" * 64
            election.candidates_published_at = now - timedelta(days=2)
            s.flush()
            freeze_roll(s, election, now, by="cli")
            election_id = election.id
        start = time.monotonic()
        with db.transaction() as s:
            election = s.get(_election(), election_id)
            count = send_links(s, election, now, "https://val.example.org", by="cli")
        elapsed = time.monotonic() - start
    return election_id, count, elapsed


def _election() -> Any:
    from voting.elections.models import Election

    return Election


def sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> Any:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else None


# --- delivery ------------------------------------------------------------------------------


def delivery_run(url: str, config: dict[str, str], workers: int, record_batch: int) -> dict:
    """Reset the saved outbox, start a sink and N workers; time until all are done."""
    sql(url, "DELETE FROM outbox")
    sql(url, "INSERT INTO outbox SELECT * FROM bench_outbox_saved")
    sql(url, "VACUUM ANALYZE outbox")
    total = sql(url, "SELECT count(*) FROM outbox")[0][0]
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = os.path.join(tmp, "stats.json")
        sink = subprocess.Popen(
            [sys.executable, __file__, "--sink", str(port), "--stats", stats_path]
        )
        try:
            deadline = time.monotonic() + 30
            while not os.path.exists(stats_path + ".ready"):
                if time.monotonic() > deadline or sink.poll() is not None:
                    raise SystemExit("the SMTP sink did not start")
                time.sleep(0.05)
            env = {
                **os.environ,
                "VOTING_DATABASE_URL": url,
                "VOTING_SECRET_KEY": config["SECRET_KEY"],
                "VOTING_DATA_KEY": config["DATA_KEY"],
                "VOTING_MAIL_TRANSPORT": "smtp",
                "VOTING_SMTP_HOST": "127.0.0.1",
                "VOTING_SMTP_PORT": str(port),
                "VOTING_MAIL_RECORD_BATCH": str(record_batch),
            }
            env.pop("FLASK_DEBUG", None)
            command = [
                sys.executable,
                "-c",
                "from voting.cli import main; main()",
                "mail",
                "worker",
                "--until-idle",
                "--rate",
                "0",
                "--interval",
                "0.2",
            ]
            start = time.monotonic()
            procs = [
                subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
                for _ in range(workers)
            ]
            for proc in procs:
                proc.wait(timeout=3600)
            wall = time.monotonic() - start
        finally:
            sink.send_signal(signal.SIGTERM)
            sink.wait(timeout=60)
        stats = json.loads(Path(stats_path).read_text())
    sent = sql(url, "SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0]
    return {"workers": workers, "total": total, "sent": sent, "wall_s": wall, **stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--queue-runs", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to try, comma-separated")
    parser.add_argument("--delivery-runs", type=int, default=1)
    parser.add_argument("--record-batch", type=int, default=20, help="MAIL_RECORD_BATCH")
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", PG_ADMIN_URL)
    )
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink, args.stats)
        return

    from voting import create_app
    from voting.db import upgrade

    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    config = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    now = datetime.now(UTC)
    with scratch_database(args.database_url, prefix="kv_bench_mail") as url:
        upgrade(url)
        app = create_app({**config, "DATABASE_URL": url})
        seconds = insert_members(app, args.members, now)
        print(f"members: {args.members} written in {seconds:.1f} s")

        queue_times = []
        keep = None
        for run in range(args.queue_runs):
            election_id, count, elapsed = queue_run(app, f"bench{run}", now)
            queue_times.append(elapsed)
            print(
                f"queue run {run + 1}: {count} link mails queued in {elapsed:.1f} s "
                f"({count / elapsed:.0f}/s)"
            )
            if keep is None:
                keep = election_id
            else:  # only one election's mail goes to the delivery runs
                sql(url, "DELETE FROM outbox WHERE election_id = %s", (election_id,))
        q = statistics.median(queue_times)
        print(
            f"queueing: median {q:.1f} s for {args.members} ({args.members / q:.0f} mails/s); "
            f"target < 60 s: {'met' if q < 60 else 'NOT met'}"
        )
        app.extensions["db"]["engine"].dispose()
        sql(url, "CREATE TABLE bench_outbox_saved AS SELECT * FROM outbox")

        for workers in [int(w) for w in args.workers.split(",") if w.strip()]:
            rates, sink_rates = [], []
            for run in range(args.delivery_runs):
                r = delivery_run(url, config, workers, args.record_batch)
                rate = r["sent"] / r["wall_s"]
                sink_rate = (r["received"] - 1) / r["first_to_last_s"] if r["received"] > 1 else 0
                rates.append(rate)
                sink_rates.append(sink_rate)
                print(
                    f"delivery, {workers} worker(s), run {run + 1}: {r['sent']}/{r['total']} sent "
                    f"in {r['wall_s']:.1f} s = {rate:.0f} mails/s (sink first-to-last "
                    f"{sink_rate:.0f}/s); received {r['received']}, distinct {r['distinct']}, "
                    f"received twice {r['twice_or_more']}"
                )
            m = statistics.median(rates)
            print(
                f"delivery, {workers} worker(s): median {m:.0f} mails/s "
                f"(sink {statistics.median(sink_rates):.0f}/s); target >= 200/s: "
                f"{'met' if m >= 200 else 'NOT met'}"
            )


if __name__ == "__main__":
    main()
