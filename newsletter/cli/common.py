"""What every command shares: the settings loaded by the root callback, and the database they name.

Settings are loaded once, in ``app``'s callback, and kept on the root context; commands read them with
``settings_of`` and never from the environment, so a test can drive any command with its own settings.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from newsletter.config import Settings

if TYPE_CHECKING:  # the database (SQLAlchemy) is imported by the commands that open one, when they run
    from newsletter.database import Database


def settings_of(ctx: typer.Context) -> Settings:
    root = ctx.find_root()
    assert isinstance(root.obj, Settings)
    return root.obj


def database_of(ctx: typer.Context) -> Database:
    """The database of the command's settings, opened (not migrated: that is ``newsletter init``)."""
    from newsletter.database import open_database

    return open_database(settings_of(ctx))


def report(summary: dict[str, object], as_json: bool) -> None:
    """A command's summary: one JSON object, or one aligned ``key: value`` line per entry."""
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for key, value in summary.items():
        typer.echo(f"{key:>13}: {value}")
