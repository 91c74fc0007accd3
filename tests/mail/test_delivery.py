"""Outbox delivery over a real SMTP server on loopback: content, retries, rejections, races."""

from __future__ import annotations

import email
import email.policy
import socket
import stat
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from voting.mail import delivery, errors, transports
from voting.mail.delivery import backoff, deliver_due
from voting.mail.models import MailStatus, OutboxMessage
from voting.mail.services import message_body, queue_mail

SUBJECT = "Bekräfta din nominering – Södermalm, Älvsjö och Östermalm"
BODY = "Hej!\n\nÖppna länken inom 48 timmar:\nhttp://localhost/nominera/bekrafta/abc123\n\nHälsningar\n"


def _queue(app, db_session, clock, to="anna.ek@example.org", subject=SUBJECT, body=BODY):
    message = queue_mail(db_session, to=to, subject=subject, body=body, kind="test", now=clock())
    db_session.flush()
    message_id = message.id  # read before the commit: a read after it would open a new transaction
    db_session.commit()
    return message_id


def _row(app, message_id):
    session = app.extensions["db"]["sessionmaker"]()
    try:
        return session.get(OutboxMessage, message_id)
    finally:
        session.close()


def _sessions(app):
    return app.extensions["db"]["sessionmaker"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving: nothing listens there


def test_delivers_with_headers_utf8_and_wipes_body(app, db_session, clock, smtp):
    message_id = _queue(app, db_session, clock)

    report = deliver_due(_sessions(app), app.config, clock)

    assert (report.sent, report.failed, report.retry) == (1, 0, 0)
    [received] = smtp.to("anna.ek@example.org")
    assert received["Subject"] == SUBJECT
    assert received["From"] == app.config["MAIL_FROM"]
    assert received["To"] == "anna.ek@example.org"
    assert received["Message-ID"].startswith("<")
    assert received["Message-ID"].endswith("@example.org>")
    assert received["Date"].datetime == clock().replace(microsecond=0)
    assert received.get_content_type() == "text/plain"
    assert received.get_content_charset() == "utf-8"
    assert received["Content-Transfer-Encoding"] == "quoted-printable"
    assert received.get_content().replace("\r\n", "\n") == BODY
    row = _row(app, message_id)
    assert row.status == MailStatus.SENT
    assert row.sent_at == clock()
    assert row.attempts == 1
    assert row.body_enc is None  # the link token must not stay at rest
    assert message_body(row) is None


def test_not_due_yet_is_left_alone(app, db_session, clock, smtp):
    message_id = _queue(app, db_session, clock)

    clock.set(clock() - timedelta(seconds=1))
    report = deliver_due(_sessions(app), app.config, clock)

    assert report.total == 0
    assert smtp.messages == []
    assert _row(app, message_id).status == MailStatus.QUEUED


def test_closed_port_retries_with_exponential_backoff(app, db_session, clock, smtp):
    config = {**app.config, "SMTP_PORT": _closed_port(), "MAIL_MAX_ATTEMPTS": 10}
    message_id = _queue(app, db_session, clock)
    start = clock()

    report = deliver_due(_sessions(app), config, clock)

    assert (report.sent, report.failed, report.retry) == (0, 0, 1)
    row = _row(app, message_id)
    assert row.status == MailStatus.QUEUED
    assert row.attempts == 1
    assert row.next_attempt_at == start + timedelta(minutes=2)
    assert "connect" in row.last_error
    assert "anna" not in row.last_error
    assert row.body_enc is not None  # still needed for the next try

    # Not due again until the back-off has passed ...
    clock.set(start + timedelta(minutes=1))
    assert deliver_due(_sessions(app), config, clock).total == 0
    # ... then the wait doubles.
    clock.set(start + timedelta(minutes=2))
    report = deliver_due(_sessions(app), config, clock)
    assert report.retry == 1
    row = _row(app, message_id)
    assert row.attempts == 2
    assert row.next_attempt_at == start + timedelta(minutes=2 + 4)

    # Once the server is back, the message goes out.
    clock.set(start + timedelta(minutes=6))
    report = deliver_due(_sessions(app), app.config, clock)
    assert report.sent == 1
    assert len(smtp.to("anna.ek@example.org")) == 1
    assert _row(app, message_id).attempts == 3


def test_backoff_is_capped_at_six_hours():
    assert backoff(1) == timedelta(minutes=2)
    assert backoff(5) == timedelta(minutes=32)
    assert backoff(8) == timedelta(hours=4, minutes=16)
    assert backoff(9) == timedelta(hours=6)
    assert backoff(60) == timedelta(hours=6)


def test_gives_up_after_max_attempts(app, db_session, clock, smtp):
    config = {**app.config, "SMTP_PORT": _closed_port(), "MAIL_MAX_ATTEMPTS": 3}
    message_id = _queue(app, db_session, clock)
    for _ in range(2):
        assert deliver_due(_sessions(app), config, clock).retry == 1
        clock.set(_row(app, message_id).next_attempt_at)

    report = deliver_due(_sessions(app), config, clock)

    assert (report.failed, report.retry) == (1, 0)
    row = _row(app, message_id)
    assert row.status == MailStatus.FAILED
    assert row.attempts == 3
    assert row.last_error.startswith("gave up after 3 attempts")
    assert row.body_enc is None
    # A failed message is never tried again.
    clock.set(clock() + timedelta(days=1))
    assert deliver_due(_sessions(app), app.config, clock).total == 0
    assert smtp.messages == []


def test_permanent_rejection_fails_at_once_and_the_batch_goes_on(app, db_session, clock, smtp):
    smtp.reject.add("gone@example.org")
    rejected = _queue(app, db_session, clock, to="gone@example.org")
    accepted = _queue(app, db_session, clock, to="here@example.org")

    report = deliver_due(_sessions(app), app.config, clock)

    assert (report.sent, report.failed, report.retry) == (1, 1, 0)
    row = _row(app, rejected)
    assert row.status == MailStatus.FAILED
    assert row.attempts == 1
    assert row.last_error.startswith("rejected: 550")
    assert "No such user" in row.last_error
    assert row.body_enc is None
    assert _row(app, accepted).status == MailStatus.SENT
    assert smtp.to("gone@example.org") == []
    assert len(smtp.to("here@example.org")) == 1


def test_limit_sends_only_that_many(app, db_session, clock, smtp):
    for n in range(5):
        _queue(app, db_session, clock, to=f"m{n}@example.org")

    assert deliver_due(_sessions(app), app.config, clock, limit=2).sent == 2
    assert len(smtp.messages) == 2
    assert deliver_due(_sessions(app), app.config, clock).sent == 3
    assert len(smtp.messages) == 5


def test_a_given_session_works_too(app, db_session, clock, smtp):
    message_id = _queue(app, db_session, clock)

    assert deliver_due(db_session, app.config, clock).sent == 1
    assert _row(app, message_id).status == MailStatus.SENT


def test_sink_transport_writes_eml_files(app, db_session, clock, smtp, tmp_path):
    sink = tmp_path / "sink"
    config = {**app.config, "MAIL_TRANSPORT": "sink", "MAIL_SINK_DIR": str(sink)}
    message_id = _queue(app, db_session, clock)

    report = deliver_due(_sessions(app), config, clock)

    assert report.sent == 1
    assert smtp.messages == []
    [path] = sink.glob("*.eml")
    assert transports.SINK_NAME_RE.match(path.name)
    assert path.name.endswith(f"-{message_id:06d}.eml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == SUBJECT
    assert parsed["To"] == "anna.ek@example.org"
    assert parsed.get_content().replace("\r\n", "\n") == BODY
    assert _row(app, message_id).body_enc is None


def test_sink_defaults_to_the_instance_folder(app, db_session, clock):
    _queue(app, db_session, clock)
    config = {**app.config, "MAIL_TRANSPORT": "sink"}

    assert deliver_due(_sessions(app), config, clock).sent == 1
    assert len(list(transports.sink_dir(app.config).glob("*.eml"))) == 1
    assert transports.sink_dir(app.config) == transports.sink_dir({}, app.instance_path)


def test_unknown_transport_is_refused(app, db_session, clock):
    message_id = _queue(app, db_session, clock)

    with pytest.raises(errors.DeliveryError, match="MAIL_TRANSPORT"):
        deliver_due(_sessions(app), {**app.config, "MAIL_TRANSPORT": "pigeon"}, clock)
    assert _row(app, message_id).attempts == 0


@pytest.mark.own_database  # threads, each with a connection of its own
def test_two_workers_at_once_deliver_each_message_exactly_once(
    app, db_session, clock, smtp, monkeypatch
):
    # Small claims, so that the two workers take turns over the queue instead of one taking all.
    monkeypatch.setattr(delivery, "CLAIM_CHUNK", 3)
    count = 40
    for n in range(count):
        queue_mail(
            db_session,
            to=f"member{n}@example.org",
            subject=f"nr {n}",
            body="x",
            kind="t",
            now=clock(),
        )
    db_session.commit()
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def worker() -> None:
        try:
            barrier.wait(10)
            reports.append(deliver_due(_sessions(app), app.config, clock))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(r.sent for r in reports) == count
    sent_ids = [i for r in reports for i in r.ids["sent"]]
    assert len(sent_ids) == len(set(sent_ids)) == count
    recipients = sorted(str(m["To"]) for m in smtp.messages)
    assert recipients == sorted(f"member{n}@example.org" for n in range(count))
    statuses = set(db_session.scalars(select(OutboxMessage.status).execution_options()))
    db_session.rollback()
    assert statuses == {MailStatus.SENT}


def test_an_unreadable_body_fails_without_stopping_the_batch(app, db_session, clock, smtp):
    from sqlalchemy import update

    broken = _queue(app, db_session, clock, to="broken@example.org")
    fine = _queue(app, db_session, clock, to="fine@example.org")
    db_session.execute(
        update(OutboxMessage).where(OutboxMessage.id == broken).values(body_enc=b"\0" * 40)
    )
    db_session.commit()

    report = deliver_due(_sessions(app), app.config, clock)

    assert (report.sent, report.failed) == (1, 1)
    row = _row(app, broken)
    assert row.status == MailStatus.FAILED
    assert row.last_error.startswith("unreadable body: InvalidTag")
    assert row.body_enc == b"\0" * 40  # kept: the right key could still recover it
    assert _row(app, fine).status == MailStatus.SENT
    assert [str(m["To"]) for m in smtp.messages] == ["fine@example.org"]


def test_an_unreachable_server_defers_the_whole_batch(app, db_session, clock, smtp, monkeypatch):
    import smtplib

    connects = []
    real_init = smtplib.SMTP.__init__

    def counting_init(self, *args, **kwargs):
        connects.append(args)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "__init__", counting_init)
    ids = [_queue(app, db_session, clock, to=f"m{n}@example.org") for n in range(3)]
    config = {**app.config, "SMTP_PORT": _closed_port()}

    report = deliver_due(_sessions(app), config, clock)

    assert (report.sent, report.failed, report.retry) == (0, 0, 3)
    assert len(connects) == 1  # one try per batch, not one timeout per message
    assert all(_row(app, i).attempts == 1 for i in ids)


def test_a_fixed_time_is_refused_for_the_clock(app, db_session, clock):
    """A run reads the clock at each claim; a time taken once would age past the lease."""
    _queue(app, db_session, clock)

    with pytest.raises(TypeError, match="clock"):
        deliver_due(_sessions(app), app.config, clock())
