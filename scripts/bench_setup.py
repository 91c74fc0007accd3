"""Shared setup for the vote benchmark, the load test and the crash test.

A scratch PostgreSQL database holding an election in its voting window (candidates published
with their keys, roll frozen, one voting link per voter), and gunicorn serving it. Used by
``scripts/bench_vote.py``, ``scripts/bench_load.py`` and ``tests/faults/``; import it with
``scripts/`` on ``sys.path``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KRETSAR = ["NORRMALM", "SODERMALM", "BROMMA", "FARSTA"]
SLUG = "bench"
PG_ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Voter:
    """One voter of the scratch election: the link token, the contest and valid choices."""

    member_id: str
    token: str
    contest: str
    choices: list[str]


def new_config() -> dict[str, str]:
    """Fresh secrets for one run (never a fixed fallback)."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


@contextlib.contextmanager
def scratch_database(admin_url: str = PG_ADMIN_URL, prefix: str = "kv_bench") -> Iterator[str]:
    """A new, empty PostgreSQL database; its URL. Dropped (forcibly) on exit."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def setup(url: str, voters: int, bits: int, config: Mapping[str, str]) -> tuple[str, list[Voter]]:
    """Migrate ``url`` and create an election in voting with ``voters`` voters and their links.

    The candidates are published with ``publish_candidates`` (keys made and logged) and the
    roll is frozen through ``freeze_roll``, so the log is the one a real election has and the
    exported record verifies. Returns (slug, voters).
    """
    from voting import create_app
    from voting.ballot.models import VoterLink
    from voting.crypto import new_token, token_hash
    from voting.db import db, upgrade
    from voting.elections.services import create_election
    from voting.lifecycle.candidates import publish_candidates
    from voting.lifecycle.roll import freeze_roll
    from voting.members.models import Member
    from voting.nominations.models import Nomination

    upgrade(url)
    now = datetime.now(UTC)
    local = lambda d: (now + d).strftime("%Y-%m-%dT%H:%M:%S+00:00")  # noqa: E731
    toml = f"""
slug = "{SLUG}"
title = "Benchmark"
[schedule]
nomination_opens = "{local(timedelta(days=-30))}"
nomination_closes = "{local(timedelta(days=-20))}"
voting_opens = "{local(timedelta(days=-1))}"
voting_closes = "{local(timedelta(days=10))}"
""" + "".join(f'[[krets]]\ncode = "{k}"\nname = "{k.title()}"\nseats = 3\n' for k in KRETSAR)
    app = create_app({**config, "DATABASE_URL": url})
    voter_list: list[Voter] = []
    with app.app_context(), db.transaction() as s:
        election = create_election(s, toml, now - timedelta(days=31), by="cli")
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
        contests = {c.krets_code: c for c in election.contests}
        for krets, contest in contests.items():
            for j in range(6):
                s.add(
                    Member(
                        member_id=f"C{krets}{j}",
                        first_name="Cand",
                        last_name=f"{krets}{j}",
                        krets_code=krets,
                        updated_at=now,
                    )
                )
                s.flush()
                s.add(
                    Nomination(
                        election_id=election.id,
                        contest_id=contest.id,
                        member_id=f"C{krets}{j}",
                        status="approved",
                        created_at=now,
                    )
                )
        s.flush()
        published = publish_candidates(s, election, now - timedelta(days=2), key_bits=bits)
        candidates = {item["krets"]: item["candidates"] for item in published}
        freeze_roll(s, election, now - timedelta(days=1), by="cli")
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
            krets = m["krets_code"]
            voter_list.append(
                Voter(m["member_id"], token, str(contests[krets].id), candidates[krets][:3])
            )
        s.execute(VoterLink.__table__.insert(), rows)
    app.extensions["db"]["engine"].dispose()
    return SLUG, voter_list


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, timeout: float = 60) -> None:
    """Until ``/healthz`` answers 200; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not come up on port {port} within {timeout} s")


def keepalive_transport(timeout: float = 60) -> Any:
    """A ballots.client transport with one persistent HTTP/1.1 connection per thread."""
    local = threading.local()

    def transport(method: str, url: str, headers: Mapping[str, str], body: bytes | None):
        parts = urlsplit(url)
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=timeout
            )
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, path, body=body, headers=dict(headers))
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            local.conn = None
            raise

    return transport


class Gunicorn:
    """gunicorn serving the app on 127.0.0.1:``port``, in its own process group."""

    def __init__(
        self,
        url: str,
        config: Mapping[str, str],
        *,
        workers: int = 4,
        threads: int = 4,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        log_level: str = "warning",
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.args = [
            str(ROOT / ".venv/bin/gunicorn"),
            "-w",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{self.port}",
            "--keep-alive",
            "30",
            "--graceful-timeout",
            "5",
            "--log-level",
            log_level,
            # gunicorn 27's control socket has one path per user: two servers would share it.
            "--no-control-socket",
            "voting:create_app()",
        ]
        self.env = {
            **os.environ,
            "VOTING_DATABASE_URL": url,
            "VOTING_SECRET_KEY": config["SECRET_KEY"],
            "VOTING_DATA_KEY": config["DATA_KEY"],
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Gunicorn:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, start_new_session=True)
        wait_for(self.port, timeout)
        return self

    @property
    def pid(self) -> int:
        """The master's pid."""
        if self.proc is None:
            raise RuntimeError("gunicorn is not started")
        return self.proc.pid

    def workers(self) -> list[int]:
        """The pids of the master's live worker processes (from /proc)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...; comm may hold spaces, so split after the last ')'.
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == self.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def kill_worker(self) -> int:
        """SIGKILL one worker; the master starts a new one. Returns the killed pid."""
        pid = self.workers()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_all(self) -> None:
        """SIGKILL the master and every worker at once (the whole process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill_all()

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
