"""``voting members`` and ``voting foreningar``."""

from __future__ import annotations

import click


@click.group("members", help="The member register.")
def members_group() -> None:
    pass


@click.group("foreningar", help="Föreningar and their contacts.")
def foreningar_group() -> None:
    pass
