"""Errors carry codes: each feature's catalog holds the Swedish text of its codes, services
never translate, and ``voting.web.say`` gives the text in the reader's language."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from flask_babel import force_locale

from voting.members.errors import MESSAGES as REGISTER_MESSAGES
from voting.members.errors import PersonnummerError, RegisterError, RowError
from voting.nominations.errors import MESSAGES as NOMINATION_MESSAGES
from voting.nominations.errors import REVIEW_MESSAGES, NominationError, ReviewError
from voting.nominations.models import NominationStatus
from voting.nominations.review import STATUS_NAMES
from voting.web import say

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = [
    (NominationError, NOMINATION_MESSAGES),
    (ReviewError, REVIEW_MESSAGES),
    (RegisterError, REGISTER_MESSAGES),
]
PLACEHOLDER = re.compile(r"%\((\w+)\)([sd])")


def _params(text: str) -> dict[str, object]:
    return {name: 7 if kind == "d" else f"<{name}>" for name, kind in PLACEHOLDER.findall(text)}


@pytest.mark.parametrize(
    ("error", "code"), [(e, c) for e, catalog in CATALOGS for c in sorted(catalog)]
)
def test_each_code_reads_in_swedish_and_in_english(app, error, code):
    params = _params(error.messages[code])
    exc = error.coded(code, **params)
    assert exc.code == code
    assert exc.params == params
    assert "%(" not in exc.message
    with app.test_request_context(), force_locale("sv"):
        assert say(exc) == exc.message
    with app.test_request_context(), force_locale("en"):
        english = say(exc)
    assert english != exc.message, f"{code} has no English text"
    assert "%(" not in english
    for value in params.values():
        assert str(value) in english


def test_the_field_prefixes_the_plain_message_only(app):
    exc = ReviewError.coded("reason_too_long", field="reason", n=2000)
    assert exc.message == "reason: högst 2000 tecken"
    assert exc.field == "reason"
    with app.test_request_context(), force_locale("en"):
        assert say(exc) == "at most 2000 characters"


def test_a_status_in_the_params_is_translated_too(app):
    status = STATUS_NAMES[NominationStatus.AWAITING_REVIEW]
    exc = ReviewError.coded("cannot_approve", id=4, status=status)
    assert exc.message == "Nominering 4 kan inte godkännas: den är väntar på granskning."
    with app.test_request_context(), force_locale("en"):
        assert say(exc) == "Nomination 4 cannot be approved: it is awaiting review."


def test_row_errors_and_personnummer_errors_use_the_register_catalog(app):
    row = RowError(3, "postcode", "postcode")
    assert str(row) == "row 3, postcode: Postnumret ska vara fem siffror, som 123 45."
    pnr = PersonnummerError.coded("pnr_check_digit")
    assert pnr.part == "check_digit"
    with app.test_request_context(), force_locale("en"):
        assert "123 45" in say(row)
        assert say(row) != row.message
        assert say(pnr) != pnr.message


def test_an_unknown_code_is_a_programming_error():
    with pytest.raises(KeyError):
        NominationError.coded("no_such_code")


# Only the web layer translates: views, forms, the shared web helpers, the error pages and the
# app factory with its extensions. Services, models and the command line never import it.
WEB_LAYER = re.compile(r"(views|_views|forms|web|error_pages|extensions|__init__)\.py$")


def test_only_the_web_layer_imports_flask_babel():
    offenders = []
    for path in sorted((ROOT / "voting").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        relative = path.relative_to(ROOT)
        if "flask_babel" in imported and not (
            WEB_LAYER.search(path.name)
            and (path.name != "__init__.py" or relative.parent.name == "voting")
        ):
            offenders.append(str(relative))
    assert offenders == []


def test_every_error_of_the_app_has_one_root():
    import importlib
    import inspect
    import pkgutil

    import voting
    from voting.errors import AppError, OperationalError, ServiceError

    outside = []
    for module_info in pkgutil.walk_packages(voting.__path__, "voting."):
        if ".migrations" in module_info.name:
            continue
        module = importlib.import_module(module_info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, BaseException):
                continue
            if not issubclass(cls, AppError):
                outside.append(f"{module.__name__}.{name}")
            elif cls is not AppError:
                assert issubclass(cls, ServiceError) != issubclass(cls, OperationalError), name
    assert outside == []
