"""``voting admin``, ``voting nominations`` and ``voting candidates``."""

from __future__ import annotations

import click


@click.group("admin", help="Staff accounts.")
def admin_group() -> None:
    pass


@click.group("nominations", help="Review nominations.")
def nominations_group() -> None:
    pass


@click.group("candidates", help="Candidate lists.")
def candidates_group() -> None:
    pass
