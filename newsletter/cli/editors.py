"""``newsletter editors …``: who may use the desk at /desk/.

``add NAME`` creates an editor and prints a one-time link to set the password (valid three days), or
with ``--password`` asks for it on the terminal (twice, not echoed). ``reset NAME`` prints a fresh link
and ends the editor's sessions when the new password is set; ``remove`` and ``list`` do what they say.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from newsletter.cli.common import database_of, settings_of
from newsletter.errors import SendRefused

editors_app = typer.Typer(no_args_is_help=True, help="Editors who may sign in to the desk (/desk/).")


def _link(ctx: typer.Context, editor_id: int, generation: str) -> str:
    from newsletter.web.desk.session import DeskSessions

    settings = settings_of(ctx)
    sessions = DeskSessions(settings.require_secret(), hours=settings.desk_session_hours, https=False)
    token = sessions.password_link_token(editor_id, generation)
    return f"{settings.base_url.rstrip('/')}/desk/set-password/{token}"


@editors_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="sign-in name, e.g. ann")],
    password: Annotated[
        bool, typer.Option("--password", help="type the password here instead of printing a link")
    ] = False,
) -> None:
    """Create an editor; prints the link where they set their password (or asks for it with --password)."""
    from newsletter.web.desk.editors import EditorError, EditorStore, check_password, generation

    settings_of(ctx).require_secret()
    typed = ""
    if password:
        if not sys.stdin.isatty():
            raise EditorError("--password asks on a terminal and there is none: leave it out to get a link")
        typed = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        check_password(typed)
    database = database_of(ctx)
    try:
        store = EditorStore(database.sessions, settings_of(ctx).desk_password_memory_kib)
        editor = store.add(name)
        if typed:
            store.set_password(editor.id, typed)
            typer.echo(f"editor {editor.name} can sign in at {settings_of(ctx).base_url.rstrip('/')}/desk/")
            return
        typer.echo(
            f"editor {editor.name} created. Send them this link to set a password (valid 3 days, once):"
        )
        typer.echo(_link(ctx, editor.id, generation(editor)))
    finally:
        database.close()


@editors_app.command("reset")
def reset(ctx: typer.Context, name: Annotated[str, typer.Argument(help="sign-in name")]) -> None:
    """Print a new password link for an editor (their sessions end once the new password is set)."""
    from newsletter.web.desk.editors import EditorStore, generation

    database = database_of(ctx)
    try:
        editor = EditorStore(database.sessions, settings_of(ctx).desk_password_memory_kib).find(name)
        if editor is None:
            raise SendRefused(f"no editor called {name!r}; `newsletter editors list` shows them")
        typer.echo(_link(ctx, editor.id, generation(editor)))
    finally:
        database.close()


@editors_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every editor, with when they last signed in."""
    from newsletter.web.desk.editors import EditorStore

    database = database_of(ctx)
    try:
        for editor in EditorStore(database.sessions, settings_of(ctx).desk_password_memory_kib).all():
            last = editor.last_signin_at.strftime("%Y-%m-%d %H:%M") if editor.last_signin_at else "never"
            state = "" if editor.password_hash else " (no password set yet)"
            typer.echo(f"{editor.name}: last signed in {last}{state}")
    finally:
        database.close()


@editors_app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="sign-in name")]) -> None:
    """Remove an editor; their sessions end at once."""
    from newsletter.web.desk.editors import EditorStore

    database = database_of(ctx)
    try:
        if not EditorStore(database.sessions, settings_of(ctx).desk_password_memory_kib).remove(name):
            raise SendRefused(f"no editor called {name!r}")
    finally:
        database.close()
    typer.echo(f"removed {name}")
