"""``newsletter serve``: the web app (signup form, confirm and unsubscribe links, webhooks) under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import settings_of
from newsletter.config import ENV_PREFIX, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="processes serving side by side")] = 1,
) -> None:
    """Run the web app (signup form, confirm and unsubscribe links, webhooks) with uvicorn.

    With ``--workers N`` uvicorn starts N processes on one socket; they share the signup rate limits
    through Redis or the database (``redis_url``), as do several hosts behind one proxy. Behind a
    reverse proxy, set trusted_proxies: the app then reads X-Forwarded-For itself
    (newsletter.web.clients), and uvicorn's own proxy-headers handling is off so that it cannot take the
    header as it comes.
    """
    import uvicorn

    from newsletter.web.app import create_app

    settings = settings_of(ctx)
    app = create_app(settings)  # checks the settings and the database before any worker starts
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, proxy_headers=False)
        return
    # Each worker process builds its own app from the same settings file and environment.
    config_file: Path = ctx.find_root().meta["config_path"]
    os.environ[ENV_PREFIX + "CONFIG"] = str(config_file.resolve())
    uvicorn.run(
        "newsletter.cli.serve:app_from_settings",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        server_header=False,
        proxy_headers=False,
    )


def app_from_settings() -> FastAPI:
    """The app of one ``serve --workers`` process: the settings the command was started with."""
    from newsletter.web.app import create_app

    return create_app(load_settings())
