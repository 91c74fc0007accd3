"""Pure ballot domain: selection rules now; canonical ballots and RFC 9474 glue later.

Imports nothing of ours and nothing of the web.
"""

from ballots.rules import SelectionRule, SelectionRuleError

__all__ = ["SelectionRule", "SelectionRuleError"]
