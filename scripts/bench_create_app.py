"""Creating the app, as ``tests/conftest.py``'s ``make_app`` does, without the suite's caches.

This is what a process pays for each app it creates; the suite's tests pay less (about 2 ms), as
``tests/conftest.py`` caches the compiled URL rules and templates per process.

Prints the median of N creations (default 40) on a scratch SQLite file. Run it from the root of
the checkout to measure; run it from another checkout's root (a ``git worktree`` of an older
commit, with this checkout's ``.venv``) to compare two commits in one sitting on a noisy machine:

    .venv/bin/python scripts/bench_create_app.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # the checkout whose code is measured, before any install

from tests.conftest import Clock, make_app  # noqa: E402


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        url = f"sqlite:///{tmp / 'bench.db'}"
        make_app(url, Clock(), 2525, tmp)  # imports and first-use caches out of the figure
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            make_app(url, Clock(), 2525, tmp)
            times.append(time.perf_counter() - start)
    print(f"create_app: median {statistics.median(times) * 1000:.1f} ms over {runs} runs")


if __name__ == "__main__":
    main()
