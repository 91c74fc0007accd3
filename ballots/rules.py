"""How many names a ballot of a contest may mark."""

from __future__ import annotations

from dataclasses import dataclass


class SelectionRuleError(ValueError):
    """A selection rule or a selection breaks the contest's limits."""


@dataclass(frozen=True)
class SelectionRule:
    """A contest's seats and how many names a ballot must mark.

    The party's practice is to mark exactly as many names as there are seats, so
    ``min_selections`` and ``max_selections`` both default to ``seats``.
    """

    seats: int
    min_selections: int
    max_selections: int
    substitutes: int

    @classmethod
    def build(
        cls,
        seats: int,
        min_selections: int | None = None,
        max_selections: int | None = None,
        substitutes: int | None = None,
    ) -> SelectionRule:
        """Fill in the defaults and check the rule; the error names the field."""
        rule = cls(
            seats=seats,
            min_selections=seats if min_selections is None else min_selections,
            max_selections=seats if max_selections is None else max_selections,
            substitutes=seats if substitutes is None else substitutes,
        )
        rule.check()
        return rule

    def check(self) -> None:
        """Raise SelectionRuleError naming the first field that is out of range."""
        for name in ("seats", "min_selections", "max_selections", "substitutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SelectionRuleError(f"{name}: must be a whole number")
        if self.seats < 1:
            raise SelectionRuleError("seats: must be at least 1")
        if self.min_selections < 1:
            raise SelectionRuleError("min_selections: must be at least 1")
        if self.max_selections < self.min_selections:
            raise SelectionRuleError("max_selections: must not be less than min_selections")
        if self.substitutes < 0:
            raise SelectionRuleError("substitutes: must not be negative")

    def allows(self, count: int) -> bool:
        """Whether a ballot marking ``count`` distinct names keeps the rule."""
        return self.min_selections <= count <= self.max_selections


def holds_vote(seats: int, candidates: int) -> bool:
    """Whether a contest is put to a vote: only with more candidates than seats.

    Why: a ballot marks as many names as there are seats, so with no more candidates than seats
    every candidate is elected whatever the members mark (docs/tally.md, "without a vote").
    """
    return candidates > seats
