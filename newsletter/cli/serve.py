"""``newsletter serve``: the web app (signup form, confirm and unsubscribe links, webhooks) under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.common import settings_of


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 8000,
) -> None:
    """Run the web app (signup form, confirm and unsubscribe links, webhooks) with uvicorn.

    One process: the signup rate limits are counted in memory. Behind a reverse proxy, set
    trusted_proxies: the app then reads X-Forwarded-For itself (newsletter.web.clients), and
    uvicorn's own proxy-headers handling is off so that it cannot take the header as it comes.
    """
    import uvicorn

    from newsletter.web.app import create_app

    app = create_app(settings_of(ctx))
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, proxy_headers=False)
