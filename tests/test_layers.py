"""The feature folders of voting/ import one way only, in the order docs/architecture.md draws.

Every import of one folder by another (module level or inside a function) must point down this
list. A new folder must be placed in it; an import that points up fails here, with the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

VOTING = Path(__file__).resolve().parent.parent / "voting"

# Bottom first: each folder may import only the folders before it.
LAYERS = [
    "log",  # the audit log's tables, appends, key and checkpoints
    "staff",  # staff accounts' tables
    "members",  # the member register
    "elections",  # elections, contests, the election file
    "mail",  # the outbox and its delivery
    "nominations",  # nominating, the nominee's answer, the committee's review
    "ballot",  # the roll, links, voter codes, signing and casting
    "letters",  # voting letters and moves of a member's access
    "postal",  # postal ballots
    "lifecycle",  # stage() and every stage change: publish, freeze, schedule, seal, count, results
    "scheduler",  # the timed jobs
    "admin",  # the committee's pages and commands
    "eid",  # Swedish eID sign-in for voters and staff
    "audit",  # the auditor's pages and the election record
    "public",  # the public pages
    "dev",  # the demo and the development pages
]


def _folders() -> list[str]:
    return sorted(
        p.name for p in VOTING.iterdir() if (p / "__init__.py").exists() and p.name != "migrations"
    )


def _imported_folder(node: ast.AST, module_parts: tuple[str, ...]) -> list[str]:
    """The voting/ folders an import statement names (absolute or relative)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[1] for a in node.names if a.name.startswith("voting.")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = list(module_parts[: len(module_parts) - node.level])
        dotted = [*base, *(node.module.split(".") if node.module else [])]
        if not dotted:
            return [a.name for a in node.names]
        return [dotted[0]]
    if node.module == "voting":
        return [a.name for a in node.names]
    if node.module and node.module.startswith("voting."):
        return [node.module.split(".")[1]]
    return []


def _upward_imports() -> list[str]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    found = []
    for path in sorted(VOTING.rglob("*.py")):
        parts = path.relative_to(VOTING).with_suffix("").parts
        if len(parts) < 2 or parts[0] not in rank:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _imported_folder(node, parts):
                if target in rank and rank[target] > rank[parts[0]]:
                    where = f"{path.relative_to(VOTING.parent)}:{node.lineno}"
                    found.append(f"{where}: {parts[0]} imports {target}, which sits above it")
    return found


def test_every_feature_folder_has_a_place_in_the_layers():
    assert sorted(LAYERS) == _folders()


def test_feature_folders_import_only_downwards():
    assert _upward_imports() == []


def test_the_check_sees_an_upward_import():
    """The checker itself: a module of ``log`` importing ``ballot`` is an upward import."""
    node = ast.parse("from voting.ballot.models import Ballot\nfrom ..ballot import codes\n")
    named = [_imported_folder(n, ("log", "services")) for n in node.body]
    assert named == [["ballot"], ["ballot"]]


def test_voting_models_names_every_mapped_class():
    """voting/models.py imports every model for Alembic; a model left out is a table left out."""
    import voting.models
    from voting.db import Base

    mapped = {mapper.class_.__name__ for mapper in Base.registry.mappers}
    assert sorted(mapped - set(voting.models.__all__)) == []
    assert all(getattr(voting.models, name) is not None for name in voting.models.__all__)
