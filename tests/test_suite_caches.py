"""The suite's per-process rule cache (tests/conftest.py) gives a rule what compiling it gives."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule

from tests.conftest import Clock, make_app


def _state(rule: Rule) -> dict[str, Any]:
    """A rule's attributes: builders by their code, converters by class and settings."""

    def plain(value: Any) -> Any:
        if hasattr(value, "__func__"):
            return value.__func__.__code__.co_code
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if hasattr(value, "map") and hasattr(value, "to_url"):  # a converter
            return type(value), {k: v for k, v in vars(value).items() if k != "map"}
        return value

    return {name: plain(value) for name, value in vars(rule).items()}


def test_a_cached_rule_is_what_compiling_it_makes(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'caches.db'}"
    first = make_app(url, Clock(), 2525, tmp_path)
    app = make_app(url, Clock(), 2525, tmp_path)
    rules = list(app.url_map.iter_rules())
    # The second app's rules came from the cache: they share the first app's builders.
    builders = {r.rule: r._build.__func__ for r in first.url_map.iter_rules()}
    assert all(r._build.__func__ is builders[r.rule] for r in rules)

    monkeypatch.setattr(Rule, "compile", Rule.compile.uncached)
    for rule in rules:
        fresh = type(rule)(rule.rule, **{**rule.get_empty_kwargs(), "defaults": rule.defaults})
        fresh.bind(app.url_map)
        made = _state(rule)
        made.pop("provide_automatic_options", None)  # Flask's own, set on the rule it adds
        assert _state(fresh) == made, rule.rule
        assert fresh._build.__func__ is not rule._build.__func__
