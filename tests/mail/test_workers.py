"""Several workers at once deliver each outbox message exactly once, however long the send-out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from voting.mail.delivery import LEASE, deliver_due
from voting.mail.models import MailStatus, OutboxMessage
from voting.mail.services import queue_mail

pytestmark = pytest.mark.own_database  # worker processes and threads

OUTBOX_ID = re.compile(r"\.outbox(\d+)@")


def _worker_env(app, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "VOTING_DATABASE_URL": app.config["DATABASE_URL"],
        "VOTING_SECRET_KEY": app.config["SECRET_KEY"],
        "VOTING_DATA_KEY": app.config["DATA_KEY"],
        "VOTING_MAIL_TRANSPORT": "smtp",
        "VOTING_SMTP_HOST": "127.0.0.1",
        "VOTING_SMTP_PORT": str(app.config["SMTP_PORT"]),
        **extra,
    }
    env.pop("FLASK_DEBUG", None)
    return env


def _start_worker(env: dict[str, str], rate: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from voting.cli import main; main()",
            "mail",
            "worker",
            "--until-idle",
            "--interval",
            "0.1",
            "--rate",
            str(rate),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_worker_processes_send_each_message_exactly_once(app, db_session, clock, smtp):
    count = 120
    ids = []
    for n in range(count):
        message = queue_mail(
            db_session, to=f"m{n}@example.org", subject=f"nr {n}", body="x", kind="t", now=clock()
        )
        db_session.flush()
        ids.append(message.id)
    db_session.commit()
    # Small claims and record batches, and a pace (20/s each) at which one worker alone would
    # need 6 s, so that the workers overlap even if they start a few seconds apart.
    env = _worker_env(app, VOTING_MAIL_CLAIM_CHUNK="4", VOTING_MAIL_RECORD_BATCH="3")
    workers = [_start_worker(env, rate=1200) for _ in range(3)]
    outputs = []
    try:
        for worker in workers:
            output, _ = worker.communicate(timeout=90)
            outputs.append(output)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert [w.returncode for w in workers] == [0, 0, 0], outputs

    received = Counter(int(OUTBOX_ID.search(str(m["Message-ID"])).group(1)) for m in smtp.messages)
    assert sorted(received) == sorted(ids)
    assert set(received.values()) == {1}  # nothing twice
    statuses = dict(
        db_session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    db_session.rollback()
    assert statuses == {MailStatus.SENT: count}
    # More than one worker did some of the work (small claims make this all but certain).
    busy = [o for o in outputs if re.search(r"sent [1-9]", o)]
    assert len(busy) >= 2, outputs


class _Turns:
    """A send-out on a fake clock: each send takes ``step``, and running workers take turns.

    A worker holds the turn from one send to its next: between the two it records, claims and
    sends while the other waits in its limiter. So the interleaving, and every time a claim or
    a lease reads, is the same on every run. ``second`` joins once the clock reaches
    ``second_at``, in the middle of the first one's long run.
    """

    def __init__(self, clock, step: timedelta, second_at, second: threading.Thread) -> None:
        self.clock = clock
        self.step = step
        self.second_at = second_at
        self.second = second
        self.cond = threading.Condition()
        self.active: set[str] = set()
        self.holder: str | None = None
        self.sends: Counter[str] = Counter()

    def _wait(self, name: str) -> None:
        others = self.active - {name}
        if not self.cond.wait_for(
            lambda: self.holder in (name, None) or not (self.active - {name}), timeout=30
        ):
            raise TimeoutError(f"{name}: the turn never came ({others})")
        self.holder = name

    def begin(self, name: str) -> None:
        with self.cond:
            self.active.add(name)
            self._wait(name)

    def leave(self, name: str) -> None:
        with self.cond:
            self.active.discard(name)
            if self.holder == name:
                self.holder = next(iter(self.active), None)
            self.cond.notify_all()

    def send(self, name: str) -> bool:
        """Called before each send (as the rate limiter): pass the turn, wait, take a step."""
        with self.cond:
            if self.second is not None and self.clock() >= self.second_at:
                second, self.second = self.second, None
                self.active.add(second.name)
                second.start()
            others = self.active - {name}
            if others:
                self.holder = next(iter(others))
                self.cond.notify_all()
            self._wait(name)
            self.clock.set(self.clock() + self.step)
            self.sends[name] += 1
        return True


class _TurnLimiter:
    """The worker's rate limiter, replaced by the turns: no real sleeping."""

    def __init__(self, turns: _Turns, name: str) -> None:
        self.turns = turns
        self.name = name

    def claim_size(self, default: int) -> int:
        return default

    def acquire(self, before_wait=None) -> bool:
        return self.turns.send(self.name)


@pytest.mark.timeout(120)
def test_a_send_out_longer_than_the_lease_sends_no_mail_twice(app, db_session, clock, smtp):
    """Two workers, one joining after the first has sent for longer than the lease.

    Each send takes a minute of the fake clock, so 40 mails take 40 minutes. When the worker
    took the time once per run, its claims after minute 15 wrote leases that had already run
    out, and the second worker took those rows and sent them again.
    """
    count = 40
    start = clock()
    for n in range(count):
        queue_mail(
            db_session, to=f"m{n}@example.org", subject=f"nr {n}", body="x", kind="t", now=start
        )
    db_session.commit()
    config = {**app.config, "MAIL_CLAIM_CHUNK": 2, "MAIL_RECORD_BATCH": 1}
    sessions = app.extensions["db"]["sessionmaker"]
    errors: list[BaseException] = []

    def work(name: str) -> None:
        # As ``voting mail worker --until-idle``: look again until a look finds nothing.
        try:
            turns.begin(name)
            limiter = _TurnLimiter(turns, name)
            while deliver_due(sessions, config, clock, limiter=limiter).total:
                pass
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            turns.leave(name)

    second = threading.Thread(target=work, args=("second",), name="second", daemon=True)
    turns = _Turns(clock, timedelta(minutes=1), start + LEASE + timedelta(minutes=1), second)
    first = threading.Thread(target=work, args=("first",), name="first", daemon=True)
    first.start()
    first.join(90)
    second.join(90)

    assert errors == []
    assert not first.is_alive()
    assert not second.is_alive()
    assert clock() - start > LEASE  # the send-out outlasted a lease ...
    assert turns.sends["second"] > 0  # ... and the second worker joined in
    received = Counter(int(OUTBOX_ID.search(str(m["Message-ID"])).group(1)) for m in smtp.messages)
    twice = {outbox_id: n for outbox_id, n in received.items() if n > 1}
    assert twice == {}
    assert len(received) == count
    statuses = set(db_session.scalars(select(OutboxMessage.status)))
    db_session.rollback()
    assert statuses == {MailStatus.SENT}
