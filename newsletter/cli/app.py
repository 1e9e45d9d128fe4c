"""The ``newsletter`` command: every command registered in one place (``COMMANDS``), and the error boundary.

Each command is one ``Lazy`` entry: name, ``module:attribute``, one-line help. Its module is imported only
when the command runs or shows its own ``--help`` (``lazy`` says why and how), so ``newsletter --help``
imports no stage and ``newsletter send`` imports only what a send uses. Add a command with one entry here.

Settings are loaded once here (the root callback) and passed down; nothing below reads env vars.
Every error a user can cause ends as one line on stderr and a non-zero exit, never a traceback:
NewsletterError and StoreError subclasses are caught in ``main``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click
from typer.core import TyperOption

from newsletter.cli.lazy import Lazy, LazyGroup, lazy_table
from newsletter.config import config_path, load_settings
from newsletter.errors import NewsletterError

COMMANDS = (
    Lazy(
        "init",
        "newsletter.cli.init:init_command",
        "Create or upgrade the database; write a secret key to newsletter.toml if none is configured.",
    ),
    Lazy(
        "config",
        "newsletter.cli.init:config_command",
        "Show every setting, its current value (secrets hidden) and its environment variable.",
    ),
    Lazy(
        "render",
        "newsletter.cli.review:render_command",
        "Render a digest for preview: edition.html and edition.txt (with a sample reader) and sample.eml.",
    ),
    Lazy(
        "preview",
        "newsletter.cli.review:preview_command",
        "Write the editions, sample.eml, screenshots at 375 and 800 px and a contact sheet.",
    ),
    Lazy(
        "preflight",
        "newsletter.cli.review:preflight_command",
        "Check an edition before sending; exit status 1 when there is an error.",
    ),
    Lazy(
        "new-digest",
        "newsletter.cli.review:new_digest_command",
        "Write a dated, commented digest to fill in (never over an existing file).",
    ),
    Lazy(
        "publish",
        "newsletter.cli.review:publish_command",
        "Put an edition in the web archive now (an edition is archived anyway once its send starts).",
    ),
    Lazy(
        "send",
        "newsletter.cli.send:send_command",
        "Render DIGEST once and send it to every confirmed subscriber who has not had it yet.",
    ),
    Lazy(
        "pause",
        "newsletter.cli.steering:pause_command",
        "Pause a running or scheduled send; `newsletter send DIGEST --resume` continues it.",
    ),
    Lazy(
        "cancel",
        "newsletter.cli.steering:cancel_command",
        "Cancel a send for good: nobody else gets this edition (those who did, did).",
    ),
    Lazy(
        "run-due",
        "newsletter.cli.steering:run_due_command",
        "Send what is due: scheduled editions, retries whose time has come, and sends that crashed.",
    ),
    Lazy(
        "stats",
        "newsletter.cli.feedback:stats_command",
        "Per edition: sent, delivered, bounced (hard/soft), complained, unsubscribed.",
    ),
    Lazy(
        "serve",
        "newsletter.cli.serve:serve_command",
        "Run the web app (signup form, confirm and unsubscribe links, webhooks) with uvicorn.",
    ),
    Lazy(
        "doctor",
        "newsletter.cli.doctor:doctor_command",
        "Check configuration, database, migrations, broker, Redis, transport, DKIM key and DNS names.",
    ),
    Lazy(
        "worker",
        "newsletter.cli.worker:worker_command",
        "Send batches of distributed sends (`newsletter send DIGEST --distributed`) from the broker.",
    ),
    Lazy("subscribers", "newsletter.cli.subscribers:subscribers_app", "Manage the list."),
    Lazy(
        "bounces",
        "newsletter.cli.feedback:bounces_app",
        "Read bounces, complaints and unsubscribe requests.",
    ),
    Lazy("editors", "newsletter.cli.editors:editors_app", "Editors who may sign in to the desk (/desk/)."),
)


class ConfigOption(TyperOption):
    """``--config PATH``, read here: Typer would build a pydantic TypeAdapter for it on every run."""

    def process_value(self, ctx: _click.Context, value: Any) -> Path | None:
        return None if value is None else Path(value)


class NewsletterGroup(LazyGroup):
    lazy = lazy_table(COMMANDS)

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.params = [
            ConfigOption(param_decls=["--config"], type_descriptor=p.type_descriptor, help=p.help)
            if isinstance(p, TyperOption) and p.name == "config"
            else p
            for p in self.params
        ]


app = typer.Typer(
    cls=NewsletterGroup,
    help="Produce and deliver an email newsletter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich costs more to import than the rest of --help together
)


@app.callback()
def _load(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (default: ./newsletter.toml)")
    ] = None,
) -> None:
    ctx.obj = load_settings(config_file=config)
    ctx.meta["config_path"] = config_path(config_file=config)


def main() -> None:
    try:
        app(standalone_mode=True)
    except Exception as exc:
        # Imported here: a StoreError means the store is loaded already, and --help never needs it.
        from subscribers.errors import StoreError

        if not isinstance(exc, NewsletterError | StoreError):
            raise
        typer.secho(f"error: {exc}", err=True, fg="red", bold=True)
        sys.exit(1)
