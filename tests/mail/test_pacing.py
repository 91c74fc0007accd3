"""Pacing: the rate limiter's guarantee, one budget for all workers through Redis, and
deliver_due sending at the configured rate.

The unit tests run on memory storage with a fake clock: the ``limits`` library stamps its memory
entries with ``time.time()`` of its module, which ``fake_time`` replaces, and the limiter gets
the same clock; only the injected sleep moves it. The shared-budget tests use a real Redis at
``TEST_REDIS_URL`` (default 127.0.0.1:6379) with a key prefix of their own and short real
windows; they are skipped when Redis cannot be reached, and fail instead with REQUIRE_REDIS=1.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import limits.storage.memory
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from voting.mail import delivery
from voting.mail.delivery import deliver_due
from voting.mail.models import MailStatus, OutboxMessage
from voting.mail.pacing import RateLimiter
from voting.mail.services import queue_mail
from voting.stopflag import StopFlag

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FAST_TIMEOUTS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}


class FakeTime:
    """A wall clock that moves only when something sleeps or works."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    time = clock  # what limits.storage.memory calls as time.time()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@contextmanager
def fake_time() -> Iterator[FakeTime]:
    fake = FakeTime()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(limits.storage.memory, "time", fake)
        yield fake


@pytest.fixture
def fake() -> Iterator[FakeTime]:
    with fake_time() as fake:
        yield fake


def _in_window(times: list[float], seconds: float) -> int:
    """The most sends in any window a hair shorter than ``seconds`` (times sorted)."""
    return max(bisect.bisect_left(times, t + seconds - 1e-6) - i for i, t in enumerate(times))


@settings(max_examples=100, deadline=None)
@given(
    per_minute=st.integers(min_value=1, max_value=100_000),
    work=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=150),
)
def test_no_window_holds_more_than_the_rate_allows(per_minute, work):
    """At most a second's worth in any second, and at most the rate in any minute."""
    with fake_time() as fake:
        limiter = RateLimiter(per_minute, clock=fake.clock, sleep=fake.sleep)
        times = []
        for seconds in work:
            assert limiter.acquire()
            times.append(fake.now)
            fake.now += seconds  # the send itself takes time too
    assert _in_window(times, 1.0) <= math.ceil(per_minute / 60)
    assert _in_window(times, 60.0) <= per_minute


@settings(max_examples=50, deadline=None)
@given(per_minute=st.integers(min_value=1, max_value=6000), count=st.integers(1, 300))
def test_a_steady_run_goes_at_the_rate_and_not_slower(per_minute, count):
    with fake_time() as fake:
        limiter = RateLimiter(per_minute, clock=fake.clock, sleep=fake.sleep)
        start = fake.now
        for _ in range(count):
            assert limiter.acquire()
        elapsed = fake.now - start
    burst = math.ceil(per_minute / 60)
    assert elapsed >= (math.ceil(count / burst) - 1) * 1.0 - 1e-6
    assert elapsed >= (math.ceil(count / per_minute) - 1) * 60.0 - 1e-6
    # Not slower than the rate: each wait ends a millisecond after a window frees.
    assert elapsed <= 60.0 * count / per_minute + 1.0 + 0.002 * count


def test_bursts_are_a_seconds_worth(fake):
    limiter = RateLimiter(600, clock=fake.clock, sleep=fake.sleep)
    for _ in range(30):
        limiter.acquire()
    assert limiter.burst == 10
    assert len(fake.sleeps) == 2  # 10 at once, then 10 a second later, not 600 at once
    assert fake.sleeps == [pytest.approx(1.0, abs=0.01)] * 2


def test_zero_means_no_limit(fake):
    limiter = RateLimiter(0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(10_000):
        assert limiter.acquire()
    assert fake.sleeps == []
    assert limiter.wait_needed() == 0
    assert limiter.claim_size(50) == 50
    assert not limiter.shared


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


def test_wait_needed_looks_without_taking(fake):
    limiter = RateLimiter(120, clock=fake.clock, sleep=fake.sleep)  # 2 a second
    assert limiter.wait_needed() == 0
    assert limiter.acquire()
    assert limiter.acquire()
    assert limiter.wait_needed() == pytest.approx(1.0, abs=0.01)
    assert limiter.wait_needed() == pytest.approx(1.0, abs=0.01)  # looking took nothing
    fake.now += 1.01
    assert limiter.wait_needed() == 0


def test_a_stop_during_the_wait_takes_nothing_and_returns_at_once(fake):
    stop = StopFlag()
    stop.set()  # SIGTERM came: the stop flag's wait returns True at once
    limiter = RateLimiter(60, clock=fake.clock, sleep=stop.wait)
    assert limiter.acquire()
    assert not limiter.acquire()  # no send taken, and no spinning on the refused window
    fake.now += 1.01
    limiter.sleep = fake.sleep
    assert limiter.acquire()
    assert fake.sleeps == []  # the refused attempt left no entry that would delay this one


def _queue(db_session, clock, count):
    for n in range(count):
        queue_mail(db_session, to=f"m{n}@example.org", subject="s", body="b", kind="t", now=clock())
    db_session.commit()


def test_deliver_due_is_paced_by_the_configured_rate(app, db_session, clock, smtp, fake):
    _queue(db_session, clock, 12)
    config = {**app.config, "MAIL_RATE_PER_MINUTE": 120}  # 2 a second
    limiter = RateLimiter.from_config(config, clock=fake.clock, sleep=fake.sleep)

    report = deliver_due(app.extensions["db"]["sessionmaker"], config, clock, limiter=limiter)

    assert report.sent == 12
    assert len(smtp.messages) == 12
    # Two at once, then two each second: 0, 0, 1, 1, ..., 5, 5.
    assert fake.sleeps == [pytest.approx(1.0, abs=0.01)] * 5


def test_the_worker_keeps_its_pace_across_looks(app, db_session, clock, smtp, fake):
    """One limiter for several deliver_due calls: the burst is not granted again per call."""
    limiter = RateLimiter(60, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        _queue(db_session, clock, 2)
        assert deliver_due(db_session, app.config, clock, limiter=limiter).sent == 2
    assert sum(fake.sleeps) == pytest.approx(5.0, abs=0.05)  # 6 sends at 1/s, the first free


def test_default_rate_and_storage_come_from_config(app):
    assert app.config["MAIL_RATE_PER_MINUTE"] == 600
    assert RateLimiter.from_config(app.config).per_minute == 600
    assert RateLimiter.from_config({"MAIL_RATE_PER_MINUTE": 0}).per_minute == 0
    assert RateLimiter.from_config(app.config, per_minute=7).per_minute == 7
    # The web's rate-limit storage and its timeouts; nothing is connected until the first send.
    config = {
        "MAIL_RATE_PER_MINUTE": 600,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
    storage = RateLimiter.from_config(config)._shared.storage
    assert isinstance(storage, limits.storage.RedisStorage)
    assert storage.key_prefix == "kongressval:mail"
    kwargs = storage.storage.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 2
    assert kwargs["socket_connect_timeout"] == 2


def test_claims_are_small_when_the_rate_is_low(app, db_session, clock, smtp, monkeypatch, fake):
    claims = []
    real_claim = delivery._claim

    def spy(session, config, now, limit, report):
        claims.append(limit)
        return real_claim(session, config, now, limit, report)

    monkeypatch.setattr(delivery, "_claim", spy)
    _queue(db_session, clock, 5)
    limiter = RateLimiter(8, clock=fake.clock, sleep=fake.sleep)  # claims of 2

    assert deliver_due(db_session, app.config, clock, limiter=limiter).sent == 5
    assert claims[:3] == [2, 2, 2]


def test_cli_send_takes_a_rate(app, runner, db_session, clock, smtp):
    _queue(db_session, clock, 3)
    result = runner.invoke(args=["mail", "send", "--rate", "0"])
    assert result.exit_code == 0, result.output
    assert "sent 3" in result.output
    result = runner.invoke(args=["mail", "send", "--rate", "-5"])
    assert result.exit_code == 2


@pytest.mark.parametrize("flag_wait", [False, True], ids=["sleep-returns", "stopflag-wait"])
def test_stopping_while_paced_hands_the_rest_of_the_claim_back(
    app, db_session, clock, smtp, fake, flag_wait
):
    _queue(db_session, clock, 6)
    stop = threading.Event()

    def sleep_until_stopped(seconds: float) -> bool | None:
        fake.sleep(seconds)
        stop.set()  # SIGTERM arrives while the worker waits for its next send
        return True if flag_wait else None  # StopFlag.wait says whether it was stopped

    limiter = RateLimiter(60, clock=fake.clock, sleep=sleep_until_stopped)

    report = deliver_due(db_session, app.config, clock, limiter=limiter, stop=stop)

    assert report.sent == 1  # the burst of one went out; then the wait was cut short
    assert len(smtp.messages) == 1
    rows = db_session.execute(select(OutboxMessage.status, OutboxMessage.next_attempt_at)).all()
    db_session.rollback()
    assert sorted(r.status for r in rows) == [MailStatus.QUEUED] * 5 + [MailStatus.SENT]
    # Handed back at once, not held for the 15-minute lease.
    assert {r.next_attempt_at for r in rows if r.status == MailStatus.QUEUED} == {clock()}


# --- when the shared storage is away -------------------------------------------------------


def test_a_stalled_storage_falls_back_to_this_process_without_hanging(caplog):
    # A port that takes the connection and never answers: a hung Redis.
    with socket.create_server(("127.0.0.1", 0)) as stalled:
        uri = f"redis://:secret@127.0.0.1:{stalled.getsockname()[1]}/0"
        limiter = RateLimiter(600, storage_uri=uri, storage_options=FAST_TIMEOUTS)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="voting.mail.pacing"):
            for _ in range(10):
                assert limiter.acquire()
        took = time.monotonic() - started
        limiter.close()
    assert took < 2.0  # one timeout (0.5 s), then memory; not one timeout per send
    assert not limiter.shared
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "per worker" in warnings[0]
    assert "TimeoutError" in warnings[0]
    assert "secret" not in warnings[0]
    assert "127.0.0.1" not in warnings[0]


def test_the_fallback_still_paces(fake):
    limiter = RateLimiter(
        120, storage_uri="redis://127.0.0.1:1/0", clock=fake.clock, sleep=fake.sleep
    )  # nothing listens on port 1: refused at once
    for _ in range(6):
        assert limiter.acquire()
    limiter.close()
    assert fake.sleeps == [pytest.approx(1.0, abs=0.01)] * 2


# --- one budget for all workers (Redis) ----------------------------------------------------


@pytest.fixture(scope="module")
def redis_url() -> str:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1) as r:
            r.ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}"
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"kongressval:test:{uuid.uuid4().hex}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)


def _run_workers(count: int, seconds: float, make_limiter) -> list[list[float]]:
    """``count`` threads, each with its own limiter, acquiring until ``seconds`` are up."""
    stop = threading.Event()
    barrier = threading.Barrier(count + 1)
    sends: list[list[float]] = [[] for _ in range(count)]
    errors: list[BaseException] = []

    def work(mine: list[float]) -> None:
        try:
            limiter = make_limiter(stop.wait)
            try:
                barrier.wait()
                while limiter.acquire():
                    mine.append(time.time())
            finally:
                limiter.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(mine,)) for mine in sends]
    for thread in threads:
        thread.start()
    barrier.wait()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert not errors, errors
    return sends


def test_workers_share_one_budget_in_redis(redis_url, key_prefix):
    """Three workers at 120/min (2 a second) send 2 a second together, not 2 each."""
    storage = {"storage_uri": redis_url, "storage_options": FAST_TIMEOUTS, "key_prefix": key_prefix}
    sends = _run_workers(3, 1.5, lambda sleep: RateLimiter(120, sleep=sleep, **storage))
    total = sum(len(mine) for mine in sends)
    # In 1.5 s the windows [0, 1] and (1, 2] hold 2 each: a pair at once, a pair a second
    # later. (Each worker on its own would send 4, 12 in all.)
    assert 3 <= total <= 4
    with redis.Redis.from_url(redis_url) as client:
        assert len(client.keys(f"{key_prefix}:*")) == 1  # one key: "<prefix>:rate/2/1/second"


def test_with_memory_storage_each_worker_has_its_own_budget():
    """The contrast: the same run on memory://, where the limit is per limiter (per process)."""
    sends = _run_workers(3, 1.5, lambda sleep: RateLimiter(120, sleep=sleep))
    assert [len(mine) for mine in sends] == [4, 4, 4]


class RedisGate:
    """A TCP port in front of Redis that can be shut (connections refused and cut) and opened."""

    def __init__(self, target: str) -> None:
        url = redis.connection.parse_url(target)
        self.target = (url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
        self.open = True
        self.sockets: list[socket.socket] = []  # open now
        self.all: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                conn.close()  # refused: the client sees the connection closed at once
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [conn, upstream]
            self.all += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            s.close()

    def shut(self) -> None:
        self.open = False
        for s in self.sockets:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()

    def close(self) -> None:
        self.shut()
        self.server.close()
        for s in self.all:
            s.close()


def test_the_shared_storage_is_used_again_once_it_answers(redis_url, key_prefix, caplog, fake):
    gate = RedisGate(redis_url)
    client = redis.Redis.from_url(redis_url)
    limiter = None
    try:
        # 6001/min: a per-second window and a per-minute one, whose Redis list counts the hits.
        limiter = RateLimiter(
            6001,
            storage_uri=f"redis://127.0.0.1:{gate.port}/0",
            storage_options=FAST_TIMEOUTS,
            key_prefix=key_prefix,
            clock=fake.clock,
            sleep=fake.sleep,
        )
        minute_key = f"{key_prefix}:rate/6001/1/minute"
        assert limiter.acquire()
        assert limiter.acquire()
        assert client.llen(minute_key) == 2
        assert limiter.shared

        gate.shut()
        with caplog.at_level(logging.INFO, logger="voting.mail.pacing"):
            assert limiter.acquire()
            assert limiter.acquire()
            assert not limiter.shared
            fake.now += RateLimiter.RECHECK / 2
            assert limiter.acquire()  # not asked again yet
            gate.open = True
            fake.now += RateLimiter.RECHECK
            assert limiter.acquire()  # asked again: it answers
        assert limiter.shared
        assert client.llen(minute_key) == 3
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2
        assert "unreachable" in messages[0]
        assert "reachable again" in messages[1]
    finally:
        if limiter is not None:
            limiter.close()
        client.close()
        gate.close()
