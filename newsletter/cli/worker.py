"""``newsletter worker``: a Celery worker that sends the batches of distributed sends.

Start as many as the machines and the transport can take (README, Deployment). Each takes one batch at
a time from the broker, claims it in the ledger and sends it; SIGTERM (systemd's stop, Ctrl-C) lets the
batch in hand finish and be recorded before the worker exits; a killed worker's batch goes to another.
"""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import settings_of
from newsletter.errors import ConfigError


def worker_command(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="sending processes in this worker (1: this process)")
    ] = 1,
    beat: Annotated[
        bool,
        typer.Option("--beat", help="also run `run-due` every minute (start exactly one worker with it)"),
    ] = False,
    loglevel: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Send batches of distributed sends (`newsletter send DIGEST --distributed`) from the broker."""
    from newsletter.database import open_database
    from newsletter.dispatch.celery_app import broker_problem
    from newsletter.dispatch.worker_tasks import run_worker

    settings = settings_of(ctx)
    open_database(settings).close()  # refuses clearly when the database is missing or out of date
    settings.require_secret()
    problem = broker_problem(settings)
    if problem:
        raise ConfigError(problem)
    status = run_worker(settings, concurrency=concurrency, beat=beat, loglevel=loglevel)
    if status:
        raise typer.Exit(status)
