"""Pacing the outbox: a send budget per minute, shared by every worker through the
web's rate-limit storage (Redis), with a per-process fallback while that storage is away."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import limits.strategies
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import (
    MemoryStorage,
    RedisClusterStorage,
    RedisSentinelStorage,
    RedisStorage,
    Storage,
    storage_from_string,
)
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

log = logging.getLogger(__name__)

# Apart from Flask-Limiter's keys in the same storage; MAIL_RATE_KEY_PREFIX overrides it.
MAIL_RATE_KEY_PREFIX = "kongressval:mail"


class RateLimiter:
    """At most ``per_minute`` sends a minute, in bursts of at most a second's worth.

    Counted by the ``limits`` library in the storage of the web's rate limits
    (RATELIMIT_STORAGE_URI, with RATELIMIT_STORAGE_OPTIONS), under the key prefix
    ``kongressval:mail``. With Redis every worker, on every host, draws from one budget: the
    SMTP provider's limit is per account, not per process. With ``memory://`` (development)
    each limiter, that is each worker process, has its own budget. Two moving windows: at most
    ceil(per_minute / 60) sends in any second (so 600/min goes 10 at a time, not 600), and, when
    ``per_minute`` is not a multiple of 60, at most ``per_minute`` in any minute. The entries
    carry each host's wall clock, so hosts sharing a Redis need synchronised clocks (NTP).

    If the shared storage cannot be reached (2 s timeouts from RATELIMIT_STORAGE_OPTIONS), the
    limiter logs a warning and counts in this process's memory instead, so that the worker
    neither hangs nor dies. The limit is then per worker again (N workers send up to N times
    the rate) until the storage answers again; it is asked every ``RECHECK`` seconds.

    ``per_minute`` 0 means no limit (and no storage). ``clock`` (wall time, as the storages'
    entries) and ``sleep`` are injectable for tests; the worker passes its stop flag's ``wait``
    as ``sleep`` so that SIGTERM is not held up.
    """

    RECHECK = 30.0
    # Why a little past the window's end: an entry exactly one window old still counts.
    MARGIN = 0.001

    def __init__(
        self,
        per_minute: int,
        *,
        storage_uri: str = "memory://",
        storage_options: Mapping[str, Any] | None = None,
        key_prefix: str = MAIL_RATE_KEY_PREFIX,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if per_minute < 0:
            raise ValueError("the rate must be 0 (no limit) or more")
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self.burst = max(1, math.ceil(per_minute / 60)) if per_minute else 0
        self.items: list[RateLimitItem] = []
        self._fallback: limits.strategies.RateLimiter | None = None
        self._recheck_at = 0.0
        if not per_minute:
            return
        options: dict[str, Any] = {**(storage_options or {}), "wrap_exceptions": True}
        namespace = key_prefix
        redis_schemes = (
            RedisStorage.STORAGE_SCHEME
            + RedisClusterStorage.STORAGE_SCHEME
            + RedisSentinelStorage.STORAGE_SCHEME
        )
        if urlsplit(storage_uri).scheme in redis_schemes:
            # Redis keys become "kongressval:mail:rate/10/1/second", apart from Flask-Limiter's.
            options["key_prefix"], namespace = key_prefix, "rate"
        # Why the second first: a hit that a later window refuses has already used the earlier
        # window's entry; a wasted one-second entry is back a second later.
        self.items.append(RateLimitItemPerSecond(self.burst, namespace=namespace))
        if per_minute % 60:
            self.items.append(RateLimitItemPerMinute(per_minute, namespace=namespace))
        storage = storage_from_string(storage_uri, **options)
        if not isinstance(storage, Storage):
            raise ValueError("RATELIMIT_STORAGE_URI: the mail worker needs a synchronous storage")
        self._shared = _strategy(storage)
        errors = storage.base_exceptions
        self._errors: tuple[type[BaseException], ...] = (
            StorageError,
            OSError,
            *(errors if isinstance(errors, tuple) else (errors,)),
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, per_minute: int | None = None, **kwargs: Any
    ) -> RateLimiter:
        """The limiter for MAIL_RATE_PER_MINUTE (or ``per_minute``), in the web's storage."""
        if per_minute is None:
            per_minute = int(config.get("MAIL_RATE_PER_MINUTE", 600) or 0)
        kwargs.setdefault("storage_uri", config.get("RATELIMIT_STORAGE_URI") or "memory://")
        kwargs.setdefault("storage_options", config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        kwargs.setdefault("key_prefix", config.get("MAIL_RATE_KEY_PREFIX") or MAIL_RATE_KEY_PREFIX)
        return cls(per_minute, **kwargs)

    @property
    def shared(self) -> bool:
        """Whether the budget is shared with other processes (as far as is known now)."""
        return (
            bool(self.items)
            and self._fallback is None
            and not isinstance(self._shared.storage, MemoryStorage)
        )

    def _run(self, action: Callable[[limits.strategies.RateLimiter], float]) -> float:
        """``action`` on the shared storage, or on this process's memory while that is away."""
        if self._fallback is not None and self.clock() >= self._recheck_at:
            if self._shared.storage.check():
                log.info("mail rate limit: shared storage reachable again; the limit is global")
                self._fallback = None
            else:
                self._recheck_at = self.clock() + self.RECHECK
        if self._fallback is not None:
            return action(self._fallback)
        try:
            return action(self._shared)
        except self._errors as exc:
            # Only the exception's class: its text may hold the storage URI and its password.
            cause = getattr(exc, "storage_error", exc)
            log.warning(
                "mail rate limit: shared storage unreachable (%s); counting in this process "
                "only, so the limit is per worker until it answers again",
                cause.__class__.__name__,
            )
            self._fallback = _strategy(MemoryStorage())
            self._recheck_at = self.clock() + self.RECHECK
            return action(self._fallback)

    def _until_free(self, strategy: limits.strategies.RateLimiter, item: RateLimitItem) -> float:
        reset = strategy.get_window_stats(item).reset_time
        # Bounded by the window: a clock jump must not make the worker sleep for hours.
        return min(float(item.get_expiry()), max(0.0, reset - self.clock())) + self.MARGIN

    def _try_hit(self, strategy: limits.strategies.RateLimiter) -> float:
        """Take one send if every window has room (0.0), else how long until one may have."""
        for item in self.items:
            if not strategy.hit(item):
                return self._until_free(strategy, item)
        return 0.0

    def _look(self, strategy: limits.strategies.RateLimiter) -> float:
        wait = 0.0
        for item in self.items:
            if strategy.get_window_stats(item).remaining < 1:
                wait = max(wait, self._until_free(strategy, item))
        return wait

    def wait_needed(self) -> float:
        """Seconds until the next send may go; 0 if it may go now (takes nothing)."""
        return self._run(self._look) if self.items else 0.0

    def acquire(self, before_wait: Callable[[], object] | None = None) -> bool:
        """Take one send, sleeping first as long as the rate needs.

        ``before_wait`` runs once, before the first sleep (the worker records its sends then).
        Returns False, having taken nothing, when ``sleep`` returns True, as a stop flag's
        ``wait`` does once the flag is set: the caller must then not send.
        """
        if not self.items:
            return True
        while (wait := self._run(self._try_hit)) > 0:
            if before_wait is not None:
                before_wait()
                before_wait = None
            if self.sleep(wait) is True:
                return False
        return True

    def close(self) -> None:
        """Let go of the shared storage's connections (Redis); the limiter is not used after."""
        if self.items and isinstance(self._shared.storage, RedisStorage):
            self._shared.storage.storage.close()

    def claim_size(self, default: int) -> int:
        """How many messages to claim at once: what the rate sends in about 15 s."""
        # Why: a claim's lease must outlast sending it at the paced rate, or another worker
        # would take the rest over and send it a second time. With a shared budget N workers
        # send their claims side by side, in up to N x 15 s: the 15-minute lease covers 60.
        if not self.items:
            return default
        return max(1, min(default, self.per_minute // 4))


def _strategy(storage: Storage) -> limits.strategies.RateLimiter:
    """The exact moving window where the storage has it (memory, Redis), else the nearest."""
    for strategy in (MovingWindowRateLimiter, SlidingWindowCounterRateLimiter):
        try:
            return strategy(storage)
        except NotImplementedError:
            continue
    return FixedWindowRateLimiter(storage)
