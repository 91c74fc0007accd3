"""Several worker processes at once deliver each outbox message exactly once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import func, select

from voting.mail.models import MailStatus, OutboxMessage
from voting.mail.services import queue_mail

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
