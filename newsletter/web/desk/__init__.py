"""The editor's desk at ``/desk/``: editions, sends with live progress, stats and subscribers.

Modules, one job each: ``editors`` (the table and passwords), ``session`` (the signed cookie and its
CSRF token), ``context`` (what routes share, and the ``signed_in`` gate every private route has),
``auth`` (sign-in pages), ``editions`` (upload, preview, test, schedule, send now), ``findings``
(what the desk says about an edition before it goes), ``runner`` (sends in their own process),
``progress`` (the ledger's numbers; pause, resume, cancel), ``stats`` and ``charts`` (figures and the
SVG growth chart), ``subscribers`` (search, history, privacy, CSV), ``refusal`` (the desk's exception).
``install`` mounts it all on the web app, built at its first desk request. Templates are in
templates/web/desk/, the stylesheet and script in templates/web/static/desk/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI
    from starlette.types import Receive, Scope, Send

    from newsletter.web.context import WebContext


UPLOAD_PATHS = ("/desk/editions/upload", "/desk/subscribers/import")
"""The desk's file uploads: their routes check size and content, not the signup pages' form check."""


def routers() -> list[APIRouter]:
    """Every desk router: ``auth.public`` (the sign-in pages) and the rest, each behind ``signed_in``."""
    from newsletter.web.desk import auth, editions, progress, stats, subscribers

    return [auth.public, auth.private, editions.router, progress.router, stats.router, subscribers.router]


def install(app: FastAPI, web: WebContext) -> None:
    """Make the desk part of ``app``; its routes are built at the first request under ``/desk/``.

    The desk's modules and FastAPI's analysis of its routes are a tenth of a second of ``serve``'s
    start-up that a reader's signup or unsubscribe never needs, so until the first desk request one route
    stands for all of them (``FirstDeskRequest``). What must exist before the app starts is here: the
    ``/desk`` redirect, and the handler of ``DeskRefusal`` (Starlette fixes its handlers at start-up).
    """
    from fastapi import Request
    from fastapi.responses import RedirectResponse, Response

    from newsletter.web.desk.refusal import DeskRefusal

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DeskRefusal)
        if exc.location:
            return RedirectResponse(exc.location, status_code=exc.status)
        title = {403: "Not allowed", 404: "Not found", 409: "Not now", 422: "Please check"}.get(
            exc.status, "Refused"
        )
        return request.app.state.desk.render(  # type: ignore[no-any-return]
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

    app.router.routes.append(FirstDeskRequest(app, web).route)


class FirstDeskRequest:
    """The ASGI endpoint of every ``/desk/`` path until the desk is built: it builds it, steps aside, and
    routes the request again, now to the desk's own route.

    Building it awaits nothing, so on the event loop no second request can find it half built; if it
    fails, this route stays and the next desk request tries again.
    """

    def __init__(self, app: FastAPI, web: WebContext) -> None:
        from starlette.routing import Route

        self.app, self.web = app, web
        self.route = Route("/desk/{rest:path}", self, include_in_schema=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.route in self.app.router.routes:
            build(self.app, self.web)
            self.app.router.routes.remove(self.route)
        await self.app.router(scope, receive, send)


def build(app: FastAPI, web: WebContext) -> None:
    """The desk's context on ``app.state.desk`` and its routes on ``app``: the web app's settings,
    database, pages and signup flow, shared."""
    from newsletter.web.desk.context import DeskContext
    from newsletter.web.desk.editors import EditorStore
    from newsletter.web.desk.findings import DeskFindings
    from newsletter.web.desk.runner import SendRunner
    from newsletter.web.desk.session import DeskSessions
    from newsletter.web.ratelimit import shared_limiter

    settings = web.settings
    sessions, window = app.state.database.sessions, settings.desk_signin_window
    app.state.desk = DeskContext(
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
    for router in routers():
        app.include_router(router)
