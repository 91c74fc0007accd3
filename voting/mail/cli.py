"""``voting mail``."""

from __future__ import annotations

import click


@click.group("mail", help="The outbox.")
def mail_group() -> None:
    pass
