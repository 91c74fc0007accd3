#!/usr/bin/env python3
"""Benchmark the member import: 100,000 rows into a fresh SQLite database, through the real CLI.

Usage: .venv/bin/python scripts/bench_import.py [--rows 100000] [--runs 3] [--keep DIR]

Each run migrates a fresh SQLite database (``voting db upgrade``), creates the 13 demo kretsar,
then times ``voting members import FILE.csv`` as a subprocess (progress bar included), and
prints seconds and rows/s. The median of the runs is printed last. A final re-import of the
same file into the last database times the "nothing changed" path too.
"""

from __future__ import annotations

import argparse
import base64
import csv
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voting.members.pnr import make_personnummer  # noqa: E402

KRETSAR = [
    ("NORRMALM", "Norrmalm"),
    ("OSTERMALM", "Östermalm"),
    ("KUNGSHOLMEN", "Kungsholmen"),
    ("SODERMALM", "Södermalm"),
    ("BROMMA", "Bromma"),
    ("HASSELBY-VALLINGBY", "Hässelby-Vällingby"),
    ("SPANGA-TENSTA", "Spånga-Tensta"),
    ("RINKEBY-KISTA", "Rinkeby-Kista"),
    ("ENSKEDE-ARSTA-VANTOR", "Enskede-Årsta-Vantör"),
    ("SKARPNACK", "Skarpnäck"),
    ("FARSTA", "Farsta"),
    ("HAGERSTEN-ALVSJO", "Hägersten-Älvsjö"),
    ("SKARHOLMEN", "Skärholmen"),
]
FIRST = ["Anna", "Erik", "Maria", "Lars", "Karin", "Ali", "Fatima", "Johan", "Sara", "Mohammed"]
DAYS = 365 * 75
LAST = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Ahmed", "Berg"]


def write_csv(path: Path, rows: int, seed: int = 2021) -> None:
    """A register export as a spreadsheet writes it: BOM, ';' separated, valid personnummer."""
    rng = random.Random(seed)
    born0 = date(1930, 1, 1)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh, delimiter=";")
        out.writerow(
            [
                "member_id",
                "personnummer",
                "first_name",
                "last_name",
                "email",
                "phone",
                "krets",
                "forening",
            ]
        )
        for i in range(rows):
            # A distinct (date, serial) pair per row keeps the numbers unique.
            born = born0 + timedelta(days=i % DAYS)
            pnr = make_personnummer(born, (i // DAYS) * 97 + 1)
            written = f"{pnr[:8]}-{pnr[8:]}" if i % 2 else f"{pnr[2:8]}-{pnr[8:]}"
            out.writerow(
                [
                    f"{100000 + i}",
                    written,
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    f"medlem{i}@example.org" if i % 10 else "",
                    f"070-{i:07d}" if i % 3 else "",
                    KRETSAR[i % len(KRETSAR)][0],
                    f"Förening {i % 200}" if i % 4 else "",
                ]
            )


def voting(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("voting")
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(exe), *args], env=env, check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"voting {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def fresh_database(workdir: Path, run: int) -> dict[str, str]:
    db = workdir / f"bench-{run}.db"
    env = dict(os.environ)
    env.update(
        VOTING_DATABASE_URL=f"sqlite:///{db}",
        VOTING_SECRET_KEY=secrets.token_urlsafe(32),
        VOTING_DATA_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
    )
    voting(env, "db", "upgrade")
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO krets (code, name) VALUES (?, ?)", KRETSAR)
    return env


def timed_import(env: dict[str, str], csv_path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = voting(env, "members", "import", str(csv_path))
    return time.perf_counter() - start, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Work in DIR and keep the files.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        csv_path = workdir / "members.csv"
        write_csv(csv_path, args.rows)
        print(f"{args.rows} rows, {csv_path.stat().st_size / 1e6:.1f} MB")
        times = []
        env: dict[str, str] = {}
        for run in range(1, args.runs + 1):
            env = fresh_database(workdir, run)
            seconds, counts = timed_import(env, csv_path)
            times.append(seconds)
            print(f"run {run}: {seconds:.2f} s, {args.rows / seconds:,.0f} rows/s ({counts})")
        median = statistics.median(times)
        print(f"median of {args.runs}: {median:.2f} s, {args.rows / median:,.0f} rows/s")
        seconds, counts = timed_import(env, csv_path)
        print(f"re-import, nothing changed: {seconds:.2f} s ({counts})")


if __name__ == "__main__":
    main()
