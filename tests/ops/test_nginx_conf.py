"""The shipped nginx site logs nothing that ties an address to a member's token or ballot (F3)."""

from __future__ import annotations

import re
from pathlib import Path

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "kongressval.conf"


def _locations(text: str) -> dict[str, str]:
    """Each location's match text and its block's body (the shipped file nests none)."""
    return {
        m.group(1).strip(): m.group(2)
        for m in re.finditer(r"^\s*location\s+([^{]+)\{(.*?)^\s*\}", text, re.M | re.S)
    }


def test_no_access_log_anywhere():
    text = CONF.read_text()
    assert re.search(r"^\s*access_log off;", text, re.M)
    assert not re.search(r"^\s*access_log (?!off;)", text, re.M)


def test_the_token_paths_and_the_voting_api_have_no_error_log():
    locations = _locations(CONF.read_text())
    assert "error_log /dev/null;" in locations["/api/v1/contests/"]
    [token_paths] = [body for match, body in locations.items() if "rosta" in match]
    assert "error_log /dev/null;" in token_paths
    pattern = next(m for m in locations if "rosta" in m).removeprefix("~").strip()
    for path in ("/rosta/Zx3abc", "/nominera/bekrafta/Zx3abc", "/kandidat/Zx3abc"):
        assert re.match(pattern, path), path
    assert not re.match(pattern, "/val/kongress/resultat")
