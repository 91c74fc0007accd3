"""Load: a shorter locust run of the realistic mix (scripts/locustfile.py) against gunicorn.

Locust runs as a subprocess (it patches the standard library with gevent, which must never
happen in the pytest process). Every request must succeed, with the per-address limit on
opening links switched on, and every vote locust saw succeed must be on the board, once.
"""

from __future__ import annotations

import pytest

USERS = 150


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_load_mix_has_no_errors_and_every_vote_is_on_the_board(pg_admin_url, tmp_path):
    from bench_load import report, run_load

    result = run_load(
        users=USERS,
        spawn_rate=50,
        run_time="20s",
        bits=2048,
        workers=3,
        threads=4,
        out=tmp_path,
        database_url=pg_admin_url,
    )
    print(report(result))
    names = {row.name for row in result.rows}
    assert {
        "/rosta/[token] (link, first open)",
        "/rosta (ballot page)",
        "blind-sign",
        "cast",
    } <= names
    assert {"board (API)", "board (page)", "manifest"} <= names
    assert result.total.failures == 0, result.failures_csv
    assert result.returncode == 0
    assert result.votes > USERS // 5  # many voters got round to voting in 20 s
    assert result.board == result.votes
    # The limit was on: one address is refused after 30 opens a minute (RATELIMIT_LINKS).
    assert result.limited_after is not None
    assert not (tmp_path / "voters.json").exists()  # the real links are not left lying around
