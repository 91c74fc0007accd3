"""Publishing the counted results: the guard, the log event, and the public forms (CSV, PDF)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditlog.events import RESULTS_PUBLISHED, TALLY_COUNTED
from ballots.rules import holds_vote
from ballots.tally import result_hash
from voting.ballot import services
from voting.ballot.codes import check_url
from voting.ballot.models import ResultsPublication
from voting.elections.models import Election
from voting.errors import Blocker, TransitionBlocked
from voting.letters import moves as link_moves
from voting.lifecycle import Stage, stage
from voting.lifecycle.tally import stored_result
from voting.log.checkpoints import checkpoint_now, checkpoints
from voting.log.keys import fingerprint
from voting.log.models import AuditEntry, Checkpoint, LogKey
from voting.log.services import Actor, append
from voting.postal.paper import paper_votes

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
NO_PLACE = "—"


def publication(session: Session, election: Election) -> ResultsPublication | None:
    """The election's results publication, if its results are published."""
    return session.get(ResultsPublication, election.id)


def publish_results(session: Session, election: Election, now: datetime, *, by: Actor) -> str:
    """Publish the counted results once: store it, log ``results.published``, checkpoint.

    Returns the results hash. TransitionBlocked lists what blocks it.
    """
    current = stage(session, election, now)
    blockers = []
    if not current.reached(Stage.COUNTED):
        blockers.append(Blocker("not_counted", {"slug": election.slug}))
    if current.reached(Stage.RESULTS_PUBLISHED):
        blockers.append(Blocker("results_already_published"))
    result = stored_result(session, election)
    if blockers or result is None:
        raise TransitionBlocked(blockers)
    digest = result_hash(result)
    session.add(ResultsPublication(election_id=election.id, published_at=now))
    append(session, election.slug, RESULTS_PUBLISHED, {"results_hash": digest, "by": by}, now)
    # Publication is a phase change: a signed checkpoint covers it, so the record verifies.
    checkpoint_now(session, election.slug, now, RESULTS_PUBLISHED)
    session.flush()
    return digest


def logged_results_hash(session: Session, election: Election) -> str | None:
    """The results hash written in the log at the count (``tally.counted``), if any."""
    body = session.scalar(
        select(AuditEntry.body)
        .where(AuditEntry.log == election.slug, AuditEntry.type == TALLY_COUNTED)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    if body is None:
        return None
    digest = json.loads(body).get("data", {}).get("results_hash")
    return str(digest) if digest else None


def candidate_names(session: Session, election: Election) -> dict[str, str]:
    """Published candidate id → full name, over all the election's contests."""
    return {
        str(n.id): n.member.full_name
        for contest in election.contests
        for n in services.published_candidates(session, contest)
    }


def krets_names(election: Election) -> dict[str, str]:
    """Contest id → krets name (the code if the name is unknown)."""
    names = {}
    for contest in election.contests:
        krets = getattr(contest, "krets", None)
        names[str(contest.id)] = getattr(krets, "name", None) or contest.krets_code
    return names


def outcomes(contest: dict[str, Any]) -> dict[str, str]:
    """Candidate id → ``elected``, ``ersättare N`` or ``—`` in one contest's result."""
    places = dict.fromkeys(contest["votes"], NO_PLACE)
    for cid in contest["elected"]:
        places[cid] = "elected"
    for rank, cid in enumerate(contest["ersattare"], 1):
        places[cid] = f"ersättare {rank}"
    return places


def count_sv(count: int, one: str, many: str) -> str:
    """``1 röstsedel``, ``2 röstsedlar``: the Swedish word in the right number."""
    return f"{count} {one if count == 1 else many}"


def percent_sv(value: object) -> str:
    """The tally's turnout ("9.5") as Swedish writes it: decimal comma, no break before "%"."""
    return f"{str(value).replace('.', ',')}\u00a0%"


def place_sv(place: str) -> str:
    """A place in Swedish: ``vald``, ``ersättare N`` or ``—``."""
    if place == "elected":
        return "vald"
    if place.startswith(("ersattare", "ersättare")):
        return "ersättare " + place.split(" ")[-1]
    return NO_PLACE


def no_vote_sv(krets: dict[str, Any]) -> str:
    """The protocol's plain statement on a krets where no vote was held."""
    candidates = len(krets["votes"])
    seats = count_sv(krets["seats"], "plats", "platser")
    said = f"Ingen omröstning: {count_sv(candidates, 'kandidat', 'kandidater')} för {seats}."
    if candidates:
        said += f" {'Kandidaten' if candidates == 1 else 'Kandidaterna'} valdes utan omröstning."
    if krets["empty_seats"]:
        said += f" {count_sv(krets['empty_seats'], 'plats', 'platser')} står tomma"
        said += " (distriktet beslutar hur de fylls)."
    return said + f" Inga ersättare. Röstlängd: {krets['roll_size']}."


def view_model(
    session: Session, election: Election, result: dict[str, Any]
) -> list[dict[str, Any]]:
    """Per krets: names, elected and ersättare with votes, every candidate in ranking order."""
    names = candidate_names(session, election)
    kretsar = krets_names(election)
    moved = link_moves.approved_per_contest(session, election)
    out = []
    for contest in result["contests"]:
        votes = contest["votes"]
        places = outcomes(contest)
        # With postal ballots, each candidate's votes online and on paper, apart and together.
        paper = (
            paper_votes(session, int(contest["contest"])) if "paper_ballots" in contest else None
        )

        def row(
            cid: str,
            votes: dict[str, int] = votes,
            places: dict[str, str] = places,
            paper: Counter[str] | None = paper,
        ) -> dict[str, Any]:
            return {
                "id": cid,
                "name": names.get(cid, cid),
                "votes": votes[cid],
                "place": places[cid],
                "paper_votes": None if paper is None else paper[cid],
                "online_votes": None if paper is None else votes[cid] - paper[cid],
            }

        out.append(
            {
                **contest,
                # Derived as the verifier does: no more candidates than seats, no vote held.
                "vote_held": holds_vote(contest["seats"], len(votes)),
                "empty_seats": max(0, contest["seats"] - len(votes)),
                # In public, per krets: links two committee members sent to a changed address.
                "moved_links": moved.get(contest["contest"], 0),
                "krets_name": kretsar.get(contest["contest"], contest["krets"]),
                "elected_rows": [row(cid) for cid in contest["elected"]],
                "ersattare_rows": [row(cid) for cid in contest["ersattare"]],
                "all_rows": [row(cid) for cid in contest["ranking"]],
                "tie_rows": [
                    {
                        "votes": tie["votes"],
                        "order": [
                            {**e, "name": names.get(e["candidate"], e["candidate"])}
                            for e in tie["order"]
                        ],
                    }
                    for tie in contest["ties"]
                ],
            }
        )
    return out


# Why: a spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV
# injection"); a leading apostrophe makes it text. Names come from the member register.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def results_csv(session: Session, election: Election, result: dict[str, Any]) -> bytes:
    """One row per candidate, ``;``-separated UTF-8 with a BOM so Excel reads å, ä and ö."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["krets", "kretsnamn", "kandidat_id", "namn", "röster", "utfall"])
    for krets in view_model(session, election, result):
        for row in krets["all_rows"]:
            place = place_sv(row["place"])
            cells = [
                krets["krets"],
                krets["krets_name"],
                row["id"],
                row["name"],
                row["votes"],
                place,
            ]
            writer.writerow([_cell(c) for c in cells])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def final_checkpoint(session: Session, election: Election) -> Checkpoint | None:
    """The latest (largest) checkpoint of the election's log."""
    rows = checkpoints(session, election.slug)
    return rows[-1] if rows else None


def log_key_fingerprint(session: Session, election: Election) -> str | None:
    """The printable fingerprint of the election's log key, if it exists."""
    key = session.get(LogKey, election.slug)
    return None if key is None else fingerprint(key.public_key)


def _base_url() -> str:
    """The site's address: BASE_URL in an app context (the protocol is made in one)."""
    from flask import current_app, has_app_context

    return str(current_app.config["BASE_URL"]) if has_app_context() else ""


def protocol_pdf(
    session: Session,
    election: Election,
    result: dict[str, Any],
    now: datetime,
    *,
    compress: bool = True,
) -> bytes:
    """The counting protocol the committee signs on paper, as PDF bytes."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_auto_page_break(auto=True, margin=15)
    unicode_font = FONT.is_file() and FONT_BOLD.is_file()
    if unicode_font:
        pdf.add_font("DejaVu", "", str(FONT))
        pdf.add_font("DejaVu", "B", str(FONT_BOLD))
        family = "DejaVu"
    else:
        family = "Helvetica"

    def text(value: Any) -> str:
        # Without the TTF only latin-1 renders: replace what does not fit rather than crash.
        out = str(value)
        if unicode_font:
            return out
        out = out.replace("—", "-").replace("–", "-").replace("→", "->")
        return out.encode("latin-1", "replace").decode("latin-1")

    def line(value: str, size: int = 10, style: str = "", height: float = 6) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(0, height, text(value), new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    pdf.set_title(text(f"Protokoll – {election.title}"))
    line("Protokoll över rösträkning", 16, "B", 9)
    line(election.title, 13, "B", 8)
    line(f"Val: {election.slug}")
    line(f"Datum: {election.local(now).strftime('%Y-%m-%d %H:%M')} ({election.timezone})")
    line(f"Lottningens seed: {result['seed']}")
    pub = publication(session, election)
    if pub is not None:
        line(f"Publicerat: {election.local(pub.published_at).strftime('%Y-%m-%d %H:%M')}")
    for krets in view_model(session, election, result):
        pdf.ln(3)
        line(f"{krets['krets_name']} ({krets['krets']})", 12, "B", 7)
        if krets["vote_held"]:
            line(
                f"Platser: {krets['seats']}, ersättare: {krets['substitutes']}. "
                f"Avlagda röstsedlar: {krets['ballots_cast']}, utfärdade signaturer: "
                f"{krets['signatures_issued']}, röstlängd: {krets['roll_size']}, "
                f"valdeltagande: {percent_sv(krets['turnout'])}"
            )
            if "paper_ballots" in krets:
                line(
                    f"Poströster: {krets['paper_ballots']} giltiga och {krets['paper_invalid']} "
                    f"ogiltiga. Digitala röstsedlar: {krets['ballots_cast']}. Giltiga "
                    f"röstsedlar sammanlagt: {krets['ballots_counted']}."
                )
        else:
            line(no_vote_sv(krets))
        if krets["vote_held"]:
            line(
                "Röstlänkar som valberedningen skickat till en ändrad adress (två ledamöter): "
                f"{krets['moved_links']}"
            )
        pdf.set_font(family, "", 9)
        split = "paper_ballots" in krets  # online and paper apart, then together
        widths = (10, 42, 10, 10, 10, 20) if split else (10, 50, 12, 20)
        with pdf.table(col_widths=widths, text_align="LEFT") as table:
            header = table.row()
            heads = ("Id", "Kandidat", "Digitalt", "Post", "Röster", "Utfall")
            for cell in heads if split else ("Id", "Kandidat", "Röster", "Utfall"):
                header.cell(text(cell))
            for row in krets["all_rows"]:
                cells = table.row()
                place = place_sv(row["place"])
                apart = (row["online_votes"], row["paper_votes"]) if split else ()
                for cell in (row["id"], row["name"], *apart, row["votes"], place):
                    cells.cell(text(cell))
        for tie in krets["tie_rows"]:
            line(f"Lottning mellan kandidater med {tie['votes']} röster:", 9, "B")
            for entry in tie["order"]:
                place = place_sv(entry["place"])
                line(
                    f"  {entry['name']} ({entry['candidate']}) → {place}; lott {entry['ticket']}", 8
                )
    pdf.ln(4)
    line("Loggen", 12, "B", 7)
    line(f"Loggnyckelns fingeravtryck: {log_key_fingerprint(session, election) or '—'}", 9)
    last = final_checkpoint(session, election)
    if last is not None:
        line(f"Sista kontrollpunkt: storlek {last.size}, rot (base64) {last.root_b64}", 9)
    line(f"Resultatets hash (SHA-256): {result_hash(result)}", 9)
    line(
        "Varje medlem kan med sin väljarkod se om en röstsedel signerades i hens namn, på "
        f"{check_url(_base_url(), election)}; den som inte röstade men ser sin kod bland de "
        "signerade anmäler det till valberedningen och revisorerna.",
        9,
    )
    pdf.ln(6)
    line("Justering", 12, "B", 7)
    line("Ort och datum: ______________________________________________")
    for _ in range(3):
        pdf.ln(8)
        line("Underskrift: ______________________________________________")
        line("Namnförtydligande: ________________________________________")
    return bytes(pdf.output())
