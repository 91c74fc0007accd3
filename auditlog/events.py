"""Every event an election's log holds: the names, which the writers in voting/ import from here,
and for the events the verifier reads, their exact payloads and where they may occur.

docs/election-record.md ("Log events") is the specification. Pure: the standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from auditlog.record import HEX64_RE, ID_RE, KRETS_RE, RULE_FIELDS, RecordError, contest_order

__all__ = [
    "BOARD_SEALED",
    "CANDIDATES_PUBLISHED",
    "DEMO_CANDIDATES_LOADED",
    "ELECTION_CREATED",
    "ELECTION_SCHEDULE_CHANGED",
    "IGNORED_EVENTS",
    "LETTERS_DOWNLOADED",
    "LETTERS_ISSUED",
    "LETTERS_MOVE_ASKED",
    "LETTERS_REPLACED",
    "LINKS_MOVE_ASKED",
    "LINKS_MOVE_DECIDED",
    "LINKS_REMINDED",
    "LINKS_RESENT",
    "LINKS_SENT",
    "NOMINATION_ACCEPTED",
    "NOMINATION_APPROVED",
    "NOMINATION_CONFIRMED",
    "NOMINATION_DECLINED",
    "NOMINATION_REJECTED",
    "POSTAL_BALLOT_ENTERED",
    "POSTAL_BALLOT_RESOLVED",
    "POSTAL_BATCH_ACCEPTED",
    "POSTAL_BATCH_OPENED",
    "POSTAL_ENVELOPE_CONFIRMED",
    "POSTAL_ENVELOPE_REGISTERED",
    "POSTAL_KITS_MADE",
    "PRESENTATION_UPDATED",
    "RESULTS_PUBLISHED",
    "ROLL_FROZEN",
    "ROLL_MEMBER_ADDED",
    "SCHEDULER_JOB_RAN",
    "TALLY_COUNTED",
    "Added",
    "LogEvents",
    "read_events",
]

ELECTION_CREATED = "election.created"
CANDIDATES_PUBLISHED = "candidates.published"
ROLL_FROZEN = "roll.frozen"
ROLL_MEMBER_ADDED = "roll.member_added"
BOARD_SEALED = "board.sealed"
TALLY_COUNTED = "tally.counted"
RESULTS_PUBLISHED = "results.published"
# Written by the app too; the verifier reads only that each is a well-formed entry.
ELECTION_SCHEDULE_CHANGED = "election.schedule_changed"
NOMINATION_CONFIRMED = "nomination.confirmed"
NOMINATION_APPROVED = "nomination.approved"
NOMINATION_REJECTED = "nomination.rejected"
NOMINATION_ACCEPTED = "nomination.accepted"
NOMINATION_DECLINED = "nomination.declined"
PRESENTATION_UPDATED = "presentation.updated"
LINKS_SENT = "links.sent"
LINKS_REMINDED = "links.reminded"
LINKS_RESENT = "links.resent"
LINKS_MOVE_ASKED = "links.move_asked"
LINKS_MOVE_DECIDED = "links.move_decided"
LETTERS_ISSUED = "letters.issued"
LETTERS_REPLACED = "letters.replaced"
LETTERS_MOVE_ASKED = "letters.move_asked"
LETTERS_DOWNLOADED = "letters.downloaded"
POSTAL_ENVELOPE_REGISTERED = "postal.envelope_registered"
POSTAL_ENVELOPE_CONFIRMED = "postal.envelope_confirmed"
POSTAL_BATCH_OPENED = "postal.batch_opened"
POSTAL_BALLOT_ENTERED = "postal.ballot_entered"
POSTAL_BALLOT_RESOLVED = "postal.ballot_resolved"
POSTAL_BATCH_ACCEPTED = "postal.batch_accepted"
POSTAL_KITS_MADE = "postal.kits_made"
SCHEDULER_JOB_RAN = "scheduler.job_ran"
DEMO_CANDIDATES_LOADED = "demo.candidates_loaded"
IGNORED_EVENTS = (
    ELECTION_SCHEDULE_CHANGED,
    NOMINATION_CONFIRMED,
    NOMINATION_APPROVED,
    NOMINATION_REJECTED,
    NOMINATION_ACCEPTED,
    NOMINATION_DECLINED,
    PRESENTATION_UPDATED,
    LINKS_SENT,
    LINKS_REMINDED,
    LINKS_RESENT,
    LINKS_MOVE_ASKED,
    LINKS_MOVE_DECIDED,
    LETTERS_ISSUED,
    LETTERS_REPLACED,
    LETTERS_MOVE_ASKED,
    LETTERS_DOWNLOADED,
    POSTAL_ENVELOPE_REGISTERED,
    POSTAL_ENVELOPE_CONFIRMED,
    POSTAL_BATCH_OPENED,
    POSTAL_BALLOT_ENTERED,
    POSTAL_BALLOT_RESOLVED,
    POSTAL_BATCH_ACCEPTED,
    POSTAL_KITS_MADE,
    SCHEDULER_JOB_RAN,
    DEMO_CANDIDATES_LOADED,
)
SCHEDULE_KEYS = frozenset(
    {"nomination_opens", "nomination_closes", "voting_opens", "voting_closes"}
)
VOTER_RE = re.compile(r"m:[0-9a-f]{24}")

# A value's kind: what the document calls it, and the test.
_Kind = tuple[str, Callable[[Any], bool]]


def _is_id(v: Any) -> bool:
    return isinstance(v, str) and ID_RE.fullmatch(v) is not None


STRING: _Kind = ("a string", lambda v: isinstance(v, str))
HEX64: _Kind = (
    "64 lowercase hex digits",
    lambda v: isinstance(v, str) and bool(HEX64_RE.fullmatch(v)),
)
INTEGER: _Kind = ("an integer", lambda v: type(v) is int)
COUNT: _Kind = ("a whole number ≥ 0", lambda v: type(v) is int and v >= 0)
POSITIVE: _Kind = ("an integer ≥ 1", lambda v: type(v) is int and v >= 1)
ID: _Kind = ("a decimal id without leading zeros", _is_id)
IDS: _Kind = (
    "a list of distinct decimal ids",
    lambda v: isinstance(v, list) and all(map(_is_id, v)) and len(set(v)) == len(v),
)
KRETS: _Kind = ("a krets code", lambda v: isinstance(v, str) and bool(KRETS_RE.fullmatch(v)))
VOTER: _Kind = (
    "a pseudonym m:<24 hex digits>",
    lambda v: isinstance(v, str) and bool(VOTER_RE.fullmatch(v)),
)
ACTOR: _Kind = (
    'a staff user id, "cli" or "scheduler"',
    lambda v: (type(v) is int and v >= 1) or v in ("cli", "scheduler"),
)
HOURS: _Kind = (
    "a list of integers",
    lambda v: isinstance(v, list) and all(type(x) is int for x in v),
)
LIST: _Kind = ("a list", lambda v: isinstance(v, list))
SCHEDULE: _Kind = (
    "an object of the four schedule times",
    lambda v: (
        isinstance(v, dict)
        and v.keys() == SCHEDULE_KEYS
        and all(isinstance(x, str) for x in v.values())
    ),
)

_RULE = dict.fromkeys(RULE_FIELDS, INTEGER)
PAYLOADS: dict[str, dict[str, _Kind]] = {
    ELECTION_CREATED: {
        "title": STRING,
        "timezone": STRING,
        "log_key": STRING,
        "schedule": SCHEDULE,
        "reminder_hours": HOURS,
        "contests": LIST,
        "by": ACTOR,
    },
    CANDIDATES_PUBLISHED: {"contests": LIST, "by": ACTOR},
    ROLL_FROZEN: {"roll_hash": HEX64, "contests": LIST, "by": ACTOR},
    ROLL_MEMBER_ADDED: {
        "contest": ID,
        "voter": VOTER,
        "size": POSITIVE,
        "codes_hash": HEX64,
        "by": ACTOR,
    },
    BOARD_SEALED: {"contests": LIST, "by": ACTOR},
    TALLY_COUNTED: {"seed": STRING, "results_hash": HEX64, "contests": LIST, "by": ACTOR},
    RESULTS_PUBLISHED: {"results_hash": HEX64, "by": ACTOR},
}
# Each item of the event's ``contests`` list; election.created names its contest "id".
ITEMS: dict[str, dict[str, _Kind]] = {
    ELECTION_CREATED: {"id": POSITIVE, "krets": KRETS, **_RULE},
    CANDIDATES_PUBLISHED: {
        "contest": ID,
        "krets": KRETS,
        "candidates": IDS,
        "list_hash": HEX64,
        "key_sha256": HEX64,
        **_RULE,
    },
    ROLL_FROZEN: {"contest": ID, "krets": KRETS, "size": COUNT, "codes_hash": HEX64},
    BOARD_SEALED: {
        "contest": ID,
        "krets": KRETS,
        "ballots": COUNT,
        "board_hash": HEX64,
        "signatures_issued": COUNT,
        "roll_size": COUNT,
        "issued_codes_hash": HEX64,
        "postal_envelopes": COUNT,
        "postal_set_aside": COUNT,
    },
    TALLY_COUNTED: {"contest": ID, "elected": IDS, "ersattare": IDS},
}
ONCE = (ELECTION_CREATED, CANDIDATES_PUBLISHED, BOARD_SEALED, TALLY_COUNTED)
AT_MOST_ONCE = (ROLL_FROZEN, RESULTS_PUBLISHED)


class Added(NamedTuple):
    """A roll.member_added event: where it is, and what it says."""

    entry: int
    contest: str
    voter: str
    size: int
    codes_hash: str


@dataclass
class LogEvents:
    """The events the verifier reads, each checked for its payload; the first of each type."""

    problems: list[str] = field(default_factory=list)
    # Entry index of the first event of each type, valid or not.
    index: dict[str, int] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The first event's ``contests`` by contest id, for the types that have such a list.
    contests: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # roll.member_added events with a valid payload, in log order.
    added: list[Added] = field(default_factory=list)

    def per_contest(self, event_type: str) -> dict[str, dict[str, Any]] | None:
        """The event's items by contest id; None if the log holds no valid such event."""
        return self.contests.get(event_type)

    def sealed(self) -> dict[str, dict[str, Any]]:
        """The board.sealed event's items by contest id; RecordError if it has none valid."""
        sealed = self.per_contest(BOARD_SEALED)
        if sealed is None:
            raise RecordError("the log holds no valid board.sealed event")
        return sealed


def _shape(data: Any, spec: Mapping[str, _Kind], where: str) -> list[str]:
    """Problems with an object that must have exactly the keys of ``spec``, of their kinds."""
    if not isinstance(data, dict):
        return [f"{where}: not a JSON object"]
    problems = [f"{where}: lacks {key}" for key in spec if key not in data]
    problems += [f"{where}: unexpected key {key!r}" for key in sorted(data) if key not in spec]
    for key, (what, ok) in spec.items():
        if key in data and not ok(data[key]):
            problems.append(
                f"{where}.{key}: {json.dumps(data[key], ensure_ascii=False)[:40]} is not {what}"
            )
    return problems


def _items(
    event_type: str, items: list[Any], where: str, kretsar: Mapping[str, str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The event's contest list by id: each contest of the manifest once, with its krets."""
    key = "id" if event_type == ELECTION_CREATED else "contest"
    found: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for position, item in enumerate(items):
        place = f"{where}.contests[{position}]"
        bad = _shape(item, ITEMS[event_type], place)
        if bad:
            problems += bad
            continue
        cid = str(item[key])
        if cid not in kretsar:
            problems.append(f"{where}: contest {cid} is not a contest of the manifest")
        elif cid in found:
            problems.append(f"{where}: contest {cid} appears more than once")
        elif item.get("krets", kretsar[cid]) != kretsar[cid]:
            problems.append(f"{where}: contest {cid} is not of krets {kretsar[cid]}")
        else:
            found[cid] = item
    named = {str(i.get(key)) for i in items if isinstance(i, dict)}
    missing = sorted(set(kretsar) - named, key=contest_order)
    problems += [f"{where}: contest {cid} is missing" for cid in missing]
    return found, problems


def _parsed(entries: Sequence[str]) -> list[tuple[int, str, Any]]:
    """(index, type, data) of each entry that is a JSON object; the chain check judges the rest."""
    out = []
    for index, body in enumerate(entries):
        try:
            fields = json.loads(body)
        except (ValueError, RecursionError):
            continue
        if isinstance(fields, dict) and isinstance(fields.get("type"), str):
            out.append((index, fields["type"], fields.get("data")))
    return out


def read_events(entries: Sequence[str], kretsar: Mapping[str, str], log_key: str) -> LogEvents:
    """Read the events the verifier needs and check their payloads, number and order.

    ``kretsar`` maps each contest id of the manifest to its krets code; ``log_key`` is the log's
    key in base64, which election.created must name.
    """
    events = LogEvents()
    problems = events.problems
    seen: dict[str, list[int]] = {}
    voters: dict[str, int] = {}
    for index, kind, data in _parsed(entries):
        if kind not in PAYLOADS:
            continue
        seen.setdefault(kind, []).append(index)
        events.index.setdefault(kind, index)
        where = f"entry {index} ({kind})"
        bad = _shape(data, PAYLOADS[kind], where)
        if bad:
            problems += bad
            continue
        if kind == ROLL_MEMBER_ADDED:
            cid, voter = data["contest"], data["voter"]
            if cid not in kretsar:
                problems.append(f"{where}: contest {cid} is not a contest of the manifest")
            if voter in voters:
                problems.append(
                    f"{where}: voter {voter} was added to a roll before, in entry {voters[voter]}"
                )
            voters.setdefault(voter, index)
            events.added.append(Added(index, cid, voter, data["size"], data["codes_hash"]))
            continue
        if kind in ITEMS:
            found, bad = _items(kind, data["contests"], where, kretsar)
            problems += bad
            if kind not in events.contests:
                events.contests[kind] = found
        if kind == ELECTION_CREATED and data["log_key"] != log_key:
            problems.append(f"{where}: log_key is not the log's key")
        events.data.setdefault(kind, data)
    problems += _order(seen, events)
    return events


def _order(seen: dict[str, list[int]], events: LogEvents) -> list[str]:
    """How many of each event the log holds, and in what order they come."""
    problems = []
    for kind in ONCE:
        if len(seen.get(kind, [])) != 1:
            problems.append(f"the log holds {len(seen.get(kind, []))} {kind} events, not one")
    for kind in AT_MOST_ONCE:
        if len(seen.get(kind, [])) > 1:
            problems.append(f"the log holds {len(seen[kind])} {kind} events, not at most one")
    if seen.get(ELECTION_CREATED, [0])[0] != 0:
        problems.append(f"entry 0 is not the {ELECTION_CREATED} event")

    def first(kind: str) -> int | None:
        return seen.get(kind, [None])[0]

    # (event, what must come before it, what must come after it)
    rules = [
        (ROLL_FROZEN, CANDIDATES_PUBLISHED, BOARD_SEALED),
        (BOARD_SEALED, CANDIDATES_PUBLISHED, None),
        (TALLY_COUNTED, BOARD_SEALED, None),
        (RESULTS_PUBLISHED, TALLY_COUNTED, None),
    ]
    for kind, before, after in rules:
        for index in seen.get(kind, []):
            earlier, later = first(before), first(after) if after else None
            if earlier is None or earlier > index:
                problems.append(f"entry {index} ({kind}) comes before the {before} event")
            if later is not None and later < index:
                problems.append(f"entry {index} ({kind}) comes after the {after} event")
    frozen, sealed = first(ROLL_FROZEN), first(BOARD_SEALED)
    for index, cid, *_rest in events.added:
        if frozen is None or index < frozen:
            problems.append(
                f"entry {index} ({ROLL_MEMBER_ADDED}): contest {cid}: a member is added "
                "before the roll was frozen"
            )
        if sealed is not None and index > sealed:
            problems.append(
                f"entry {index} ({ROLL_MEMBER_ADDED}): contest {cid}: a member is added "
                "after the board was sealed"
            )
    return problems
