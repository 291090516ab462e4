"""``samtycke db upgrade``: the schema comes only from these migrations."""

from __future__ import annotations

import os

import click


@click.group(help="Database schema.")
def db() -> None:
    pass


@db.command("upgrade", help="Apply Alembic migrations to SAMTYCKE_DATABASE_URL.")
def db_upgrade() -> None:
    from app.cli import _app
    from migrations.runner import upgrade

    url = _app().config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(url.removeprefix("sqlite:///")) or ".", exist_ok=True)
    upgrade(url)
    click.echo("database is at the latest schema")


COMMANDS = (db,)
