"""What the verifier reports: a ``Check`` per section of docs/election-record.md, how its
problems are summarised, and the command line that prints the verdict. The checks are in
verify.py.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from auditlog.entries import canonical_json
from auditlog.record import RecordError

MAX_SHOWN = 10  # problems named per check; the rest are counted


@dataclass(frozen=True)
class Check:
    """One named check of the record and what it found."""

    name: str
    ok: bool
    detail: str


def summary(name: str, problems: list[str], ok_detail: str) -> Check:
    """The check passed with ``ok_detail``, or failed naming its first problems."""
    if not problems:
        return Check(name, True, ok_detail)
    shown = "; ".join(problems[:MAX_SHOWN])
    more = len(problems) - MAX_SHOWN
    return Check(name, False, shown + (f"; and {more} more" if more > 0 else ""))


def guarded(name: str, check: Callable[[], Check]) -> Check:
    """Run a check; a malformed record fails that check instead of crashing the verifier."""
    try:
        return check()
    except (RecordError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return Check(name, False, f"malformed record: {exc}")


def plural(count: int, noun: str) -> str:
    """``1 ballot``, ``2 ballots``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def difference(published: dict[str, Any], recount: dict[str, Any]) -> str:
    """Name the first field where the published result differs from the recount."""
    for key in sorted(set(published) | set(recount)):
        if key != "contests" and published.get(key) != recount.get(key):
            return f"the published {key} differs from the recount"
    theirs = published.get("contests")
    if not isinstance(theirs, list) or len(theirs) != len(recount["contests"]):
        return "the published results have another list of contests"
    for pub, mine in zip(theirs, recount["contests"], strict=True):
        if not isinstance(pub, dict):
            return "a published contest is not an object"
        for key in sorted(set(pub) | set(mine)):
            if canonical_json(pub.get(key)) != canonical_json(mine.get(key)):
                return (
                    f"contest {mine['contest']}: the published {key} {json.dumps(pub.get(key))} "
                    f"is not the recount's {json.dumps(mine.get(key))}"
                )
    return "the published results are not in canonical form"


def render(checks: Sequence[Check], *, as_json: bool) -> str:
    """The verdict as ``verify-election`` prints it: one line per check, or JSON."""
    ok = all(c.ok for c in checks)
    if as_json:
        return json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, ensure_ascii=False)
    lines = [f"{'✓' if c.ok else '✗'} {c.name}: {c.detail}" for c in checks]
    lines.append("The record verifies." if ok else "THE RECORD DOES NOT VERIFY.")
    return "\n".join(lines)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The ``verify-election`` command line: RECORD [--log-key FP] [--json] [--workers N]."""
    parser = argparse.ArgumentParser(
        prog="verify-election", description="Check an election record offline."
    )
    parser.add_argument("record", help="the election record (JSON), or - for standard input")
    parser.add_argument(
        "--log-key", metavar="FINGERPRINT", help="the log key's printed fingerprint"
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    return parser.parse_args(argv)
