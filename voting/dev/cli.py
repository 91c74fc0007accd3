"""``voting demo`` (debug and testing only)."""

from __future__ import annotations

import click


@click.group("demo", help="Demo data for the local demo.")
def demo_group() -> None:
    pass
