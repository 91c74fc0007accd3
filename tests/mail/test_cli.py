"""``voting mail send | status | worker``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from voting.mail.services import queue_mail


def _queue(db_session, clock, *addresses):
    for address in addresses:
        queue_mail(db_session, to=address, subject="Hej", body="Hej då", kind="t", now=clock())
    db_session.commit()


def test_send_delivers_and_prints_counts(app, runner, db_session, clock, smtp):
    smtp.reject.add("nobody@example.org")
    _queue(db_session, clock, "a@example.org", "b@example.org", "nobody@example.org")

    result = runner.invoke(args=["mail", "send"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sent 2, failed 1, retry later 0"
    assert sorted(str(m["To"]) for m in smtp.messages) == ["a@example.org", "b@example.org"]
    # Nothing is due any more: a second run does nothing.
    again = runner.invoke(args=["mail", "send"])
    assert again.output.strip() == "sent 0, failed 0, retry later 0"


def test_send_with_limit(app, runner, db_session, clock, smtp):
    _queue(db_session, clock, "a@example.org", "b@example.org")

    result = runner.invoke(args=["mail", "send", "--limit", "1"])

    assert result.output.strip() == "sent 1, failed 0, retry later 0"
    assert len(smtp.messages) == 1


def test_status_json_counts_by_status(app, runner, db_session, clock, smtp):
    smtp.reject.add("nobody@example.org")
    _queue(db_session, clock, "a@example.org", "nobody@example.org")
    runner.invoke(args=["mail", "send"])
    _queue(db_session, clock, "c@example.org")
    queue_mail(
        db_session,
        to="d@example.org",
        subject="s",
        body="b",
        kind="t",
        now=clock() + timedelta(hours=1),
    )
    db_session.commit()

    result = runner.invoke(args=["mail", "status", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "queued": 2,
        "due": 1,
        "sent": 1,
        "failed": 1,
        "unreachable": {},  # per election whose voting has not closed; there is none
    }
    text = runner.invoke(args=["mail", "status"]).output
    assert "queued 2" in text
    assert "sent 1" in text
    assert "failed 1" in text


def test_unknown_transport_is_a_clear_cli_error(app, runner, db_session, clock):
    _queue(db_session, clock, "a@example.org")
    app.config["MAIL_TRANSPORT"] = "carrier-pigeon"

    result = runner.invoke(args=["mail", "send"])

    assert result.exit_code == 1
    assert "MAIL_TRANSPORT" in result.output


@pytest.mark.own_database  # the worker is a process of its own
def test_worker_delivers_until_sigterm(app, db_session, clock, smtp, tmp_path):
    _queue(db_session, clock, "worker@example.org")
    env = {
        **os.environ,
        "VOTING_DATABASE_URL": app.config["DATABASE_URL"],
        "VOTING_SECRET_KEY": app.config["SECRET_KEY"],
        "VOTING_DATA_KEY": app.config["DATA_KEY"],
        "VOTING_MAIL_TRANSPORT": "smtp",
        "VOTING_SMTP_HOST": "127.0.0.1",
        "VOTING_SMTP_PORT": str(app.config["SMTP_PORT"]),
        "VOTING_MAIL_SINK_DIR": str(tmp_path / "unused-sink"),
    }
    env.pop("FLASK_DEBUG", None)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from voting.cli import main; main()",
            "mail",
            "worker",
            "--interval",
            "0.2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not smtp.to("worker@example.org") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(smtp.to("worker@example.org")) == 1
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, output
    assert "sent 1, failed 0, retry later 0" in output
    assert "Mail worker stopped." in output
    assert "worker@example.org" not in output  # no addresses in the worker's output
