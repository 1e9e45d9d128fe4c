"""The editor's desk at ``/desk/``: editions, sends with live progress, stats and subscribers.

Modules, one job each: ``editors`` (the table and passwords), ``session`` (the signed cookie and its
CSRF token), ``context`` (what routes share, and the ``signed_in`` gate every private route has),
``auth`` (sign-in pages), ``editions`` (upload, preview, test, schedule, send now), ``findings``
(what the desk says about an edition before it goes), ``runner`` (sends in their own process),
``progress`` (the ledger's numbers; pause, resume, cancel), ``stats`` and ``charts`` (figures and the
SVG growth chart), ``subscribers`` (search, history, privacy, CSV). ``install`` mounts it all on the
web app. Templates are in templates/web/desk/, the stylesheet and script in templates/web/static/desk/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from newsletter.web.context import WebContext


UPLOAD_PATHS = ("/desk/editions/upload", "/desk/subscribers/import")
"""The desk's file uploads: their routes check size and content, not the signup pages' form check."""


def routers() -> list[APIRouter]:
    """Every desk router: ``auth.public`` (the sign-in pages) and the rest, each behind ``signed_in``."""
    from newsletter.web.desk import auth, editions, progress, stats, subscribers

    return [auth.public, auth.private, editions.router, progress.router, stats.router, subscribers.router]


def install(app: FastAPI, web: WebContext) -> None:
    """Mount the desk's routes on ``app``, sharing the web app's settings, database, pages and flow."""
    from fastapi import Request
    from fastapi.responses import RedirectResponse, Response

    from newsletter.web.desk.context import DeskContext, DeskRefusal
    from newsletter.web.desk.editors import EditorStore
    from newsletter.web.desk.findings import DeskFindings
    from newsletter.web.desk.runner import SendRunner
    from newsletter.web.desk.session import DeskSessions
    from newsletter.web.ratelimit import shared_limiter

    settings = web.settings
    sessions, window = app.state.database.sessions, settings.desk_signin_window
    context = DeskContext(
        settings=settings,
        database=app.state.database,
        editors=EditorStore(app.state.database.sessions, settings.desk_password_memory_kib),
        sessions=DeskSessions(
            settings.require_secret(),
            hours=settings.desk_session_hours,
            https=settings.base_url.startswith("https://"),
        ),
        pages=web.pages,
        renderer=app.state.renderer,
        csrf=web.csrf,
        flow=web.flow,
        runner=SendRunner(settings),
        findings=DeskFindings(settings, app.state.renderer),
        # In the store every serving process shares, like the signup limits: `serve --workers N` and
        # several hosts count one editor's (or one address's) attempts together.
        ip_limiter=shared_limiter(
            settings, sessions, app.state.redis, "desk-signin:ip:", settings.desk_signin_limit_per_ip, window
        ),
        account_limiter=shared_limiter(
            settings,
            sessions,
            app.state.redis,
            "desk-signin:account:",
            settings.desk_signin_limit_per_account,
            window,
        ),
    )
    app.state.desk = context

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DeskRefusal)
        if exc.location:
            return RedirectResponse(exc.location, status_code=exc.status)
        title = {403: "Not allowed", 404: "Not found", 409: "Not now", 422: "Please check"}.get(
            exc.status, "Refused"
        )
        return context.render(
            "message",
            status=exc.status,
            title=title,
            text=exc.text,
            signed=getattr(request.state, "signed", None),
        )

    app.add_exception_handler(DeskRefusal, refused)

    @app.get("/desk", include_in_schema=False)
    def desk_root() -> Response:
        return RedirectResponse("/desk/", status_code=308)

    for router in routers():
        app.include_router(router)
