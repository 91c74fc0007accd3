"""Pacing: the rate limiter's guarantee, and deliver_due sending at the configured rate.

Time here is a fake clock that only the injected sleep moves: no wall-clock assertions.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from voting.mail import delivery
from voting.mail.delivery import RateLimiter, deliver_due
from voting.mail.models import MailStatus, OutboxMessage
from voting.mail.services import queue_mail


class FakeTime:
    """A monotonic clock that moves only when something sleeps or works."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@settings(max_examples=200, deadline=None)
@given(
    per_minute=st.integers(min_value=1, max_value=100_000),
    work=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=150),
)
def test_no_window_holds_more_than_the_rate_allows(per_minute, work):
    """Any i..j sends span at least (j - i + 1 - burst) intervals, whatever the work between."""
    fake = FakeTime()
    limiter = RateLimiter(per_minute, clock=fake.clock, sleep=fake.sleep)
    times = []
    for seconds in work:
        limiter.acquire()
        times.append(fake.now)
        fake.now += seconds  # the send itself takes time too
    interval = 60.0 / per_minute
    for i in range(len(times)):
        for j in range(i, len(times)):
            allowed = (j - i + 1 - limiter.capacity) * interval
            assert times[j] - times[i] >= allowed - 1e-6 * max(1.0, interval * (j - i))


@settings(max_examples=50, deadline=None)
@given(per_minute=st.integers(min_value=1, max_value=6000), count=st.integers(1, 300))
def test_a_steady_run_goes_at_the_rate_and_not_slower(per_minute, count):
    fake = FakeTime()
    limiter = RateLimiter(per_minute, clock=fake.clock, sleep=fake.sleep)
    for _ in range(count):
        limiter.acquire()
    interval = 60.0 / per_minute
    expected = max(0.0, (count - limiter.capacity) * interval)
    assert fake.now - 1000.0 == pytest.approx(expected, abs=interval + 1e-6)


def test_zero_means_no_limit():
    fake = FakeTime()
    limiter = RateLimiter(0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(10_000):
        limiter.acquire()
    assert fake.sleeps == []
    assert limiter.claim_size(50) == 50


def test_negative_rate_is_refused():
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(-1)


@pytest.mark.parametrize(
    ("per_minute", "size"), [(1, 1), (4, 1), (60, 15), (200, 50), (600, 50), (0, 50)]
)
def test_a_claim_is_what_the_rate_sends_in_about_15_s(per_minute, size):
    # A claim's lease (15 min) must outlast sending it, or a second worker would resend it.
    assert RateLimiter(per_minute).claim_size(50) == size
    if per_minute:
        assert size * 60 / per_minute <= 60


def test_an_interrupted_sleep_carries_the_debt():
    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake.clock, sleep=lambda s: None)  # returns at once
    limiter.acquire()
    limiter.acquire()  # could not wait: goes into debt
    assert limiter.wait_needed() == pytest.approx(2.0)


def _queue(db_session, clock, count):
    for n in range(count):
        queue_mail(db_session, to=f"m{n}@example.org", subject="s", body="b", kind="t", now=clock())
    db_session.commit()


def test_deliver_due_is_paced_by_the_configured_rate(app, db_session, clock, smtp):
    _queue(db_session, clock, 12)
    fake = FakeTime()
    config = {**app.config, "MAIL_RATE_PER_MINUTE": 120}  # 2 a second, bursts of 2
    limiter = RateLimiter.from_config(config, clock=fake.clock, sleep=fake.sleep)

    report = deliver_due(app.extensions["db"]["sessionmaker"], config, clock(), limiter=limiter)

    assert report.sent == 12
    assert len(smtp.messages) == 12
    assert sum(fake.sleeps) == pytest.approx((12 - 2) * 0.5)
    assert all(s == pytest.approx(0.5) for s in fake.sleeps)


def test_the_worker_keeps_its_pace_across_looks(app, db_session, clock, smtp):
    """One limiter for several deliver_due calls: the burst is not granted again per call."""
    fake = FakeTime()
    limiter = RateLimiter(60, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        _queue(db_session, clock, 2)
        assert deliver_due(db_session, app.config, clock(), limiter=limiter).sent == 2
    assert sum(fake.sleeps) == pytest.approx(5.0)  # 6 sends at 1/s, the first one free


def test_default_rate_comes_from_config(app):
    assert app.config["MAIL_RATE_PER_MINUTE"] == 600
    assert RateLimiter.from_config(app.config).per_minute == 600
    assert RateLimiter.from_config({"MAIL_RATE_PER_MINUTE": 0}).per_minute == 0


def test_claims_are_small_when_the_rate_is_low(app, db_session, clock, smtp, monkeypatch):
    claims = []
    real_claim = delivery._claim

    def spy(session, config, now, limit, report):
        claims.append(limit)
        return real_claim(session, config, now, limit, report)

    monkeypatch.setattr(delivery, "_claim", spy)
    _queue(db_session, clock, 5)
    fake = FakeTime()
    limiter = RateLimiter(8, clock=fake.clock, sleep=fake.sleep)  # claims of 2

    assert deliver_due(db_session, app.config, clock(), limiter=limiter).sent == 5
    assert claims[:3] == [2, 2, 2]


def test_cli_send_takes_a_rate(app, runner, db_session, clock, smtp):
    _queue(db_session, clock, 3)
    result = runner.invoke(args=["mail", "send", "--rate", "0"])
    assert result.exit_code == 0, result.output
    assert "sent 3" in result.output
    result = runner.invoke(args=["mail", "send", "--rate", "-5"])
    assert result.exit_code == 2


def test_stopping_while_paced_hands_the_rest_of_the_claim_back(app, db_session, clock, smtp):
    _queue(db_session, clock, 6)
    stop = threading.Event()
    fake = FakeTime()

    def sleep_until_stopped(seconds: float) -> None:
        fake.sleep(seconds)
        stop.set()  # SIGTERM arrives while the worker waits for its next send

    limiter = RateLimiter(60, clock=fake.clock, sleep=sleep_until_stopped)

    report = deliver_due(db_session, app.config, clock(), limiter=limiter, stop=stop)

    assert report.sent == 1  # the burst of one went out; then the wait was cut short
    assert len(smtp.messages) == 1
    rows = db_session.execute(select(OutboxMessage.status, OutboxMessage.next_attempt_at)).all()
    db_session.rollback()
    assert sorted(r.status for r in rows) == [MailStatus.QUEUED] * 5 + [MailStatus.SENT]
    # Handed back at once, not held for the 15-minute lease.
    assert {r.next_attempt_at for r in rows if r.status == MailStatus.QUEUED} == {clock()}
