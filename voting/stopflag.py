"""A stop request for long-running commands (the scheduler, the mail worker)."""

from __future__ import annotations

import time


class StopFlag:
    """A stop request that a signal handler may set: setting it takes no lock.

    Why not a threading.Event: its set() takes the event's lock, which the interrupted main
    thread may hold inside wait(), and the handler would then wait for itself forever.
    """

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True

    def is_set(self) -> bool:
        return self.requested

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
        return self.requested
