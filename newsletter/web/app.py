"""The web app factory: signup form, confirm and unsubscribe links, webhooks, the archive.

``create_app(settings, database)`` builds everything from the settings it is given (nothing reads the
environment) and keeps the shared parts on ``app.state``: ``settings``, ``database``, ``links``,
``renderer`` and ``transport_factory`` (a callable opening the configured transport; tests and the
benchmark may replace it). Routes live in small modules: ``forms`` (signup), ``tokens`` (confirm and
unsubscribe links), ``webhooks`` (provider feedback), ``archive`` (past editions and their feed).

No visitor ever sees a traceback: every error becomes a plain page with a status code; the details go
to the server log. The OpenAPI pages are off: they are not part of the service and need inline script.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsletter.config import Settings
from newsletter.database import Database, open_database
from newsletter.delivery.links import Links
from newsletter.delivery.transports import open_transport
from newsletter.delivery.transports.base import Transport
from newsletter.edition.render import Renderer
from newsletter.errors import ConfigError, NewsletterError
from newsletter.readers.signup import SignupFlow
from newsletter.readers.transactional import TransactionalMail
from newsletter.review.web_copy import WebCopies
from newsletter.shared_limits import connect_redis
from newsletter.web import archive, forms, tokens
from newsletter.web.clients import ForwardingError
from newsletter.web.context import WebContext
from newsletter.web.formbody import FormBodyCheck
from newsletter.web.pages import TITLES, Pages, static_dir
from newsletter.web.ratelimit import signup_limiter
from newsletter.web.security import CsrfTokens, SecurityHeaders
from subscribers.errors import StoreError
from subscribers.signups import SignupQueue

log = logging.getLogger("newsletter.web")

DAY = 24 * 3600


def _check(settings: Settings) -> None:
    if settings.confirm_ttl_days < 1:
        raise ConfigError("confirm_ttl_days must be at least 1")
    if settings.rate_limit_window < 1:
        raise ConfigError("rate_limit_window must be at least 1 second")


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """The ASGI app. Without ``database`` it opens (and on shutdown closes) the configured one."""
    _check(settings)
    links = Links(settings)  # refuses to start without a secret key
    links.confirm_ttl_seconds = settings.confirm_ttl_days * DAY
    owned = database is None
    db = open_database(settings) if database is None else database
    renderer = Renderer(settings.templates_dir)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            flow.apply_waiting()
        except (NewsletterError, StoreError) as exc:  # the list is busy: the next start tries again
            log.error("signup requests left from before could not be applied: %s", exc)
        yield
        if owned:
            db.close()

    app = FastAPI(title="newsletter", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.database = db
    app.state.links = links
    app.state.renderer = renderer
    app.state.web_copies = WebCopies(settings, renderer)
    transport_factory: Callable[[], Transport] = lambda: open_transport(settings)  # noqa: E731
    app.state.transport_factory = transport_factory

    csrf = CsrfTokens(settings.require_secret())
    redis_client = connect_redis(settings.redis_url) if settings.redis_url else None
    app.state.redis = redis_client  # the desk's sign-in limits share it
    address_limiter = signup_limiter(
        settings, db.sessions, redis_client, "address", settings.signup_limit_per_address
    )
    flow = SignupFlow(
        settings=settings,
        store=db.store,
        signups=SignupQueue(db.sessions),
        links=links,
        mail=TransactionalMail(settings, renderer, links),
        # Looked up at each send, so a replaced app.state.transport_factory takes effect.
        transport_factory=lambda: app.state.transport_factory(),
        address_limiter=address_limiter,
    )
    pages = Pages(settings, csrf)
    app.state.web = WebContext(
        settings=settings,
        flow=flow,
        pages=pages,
        csrf=csrf,
        address_limiter=address_limiter,
        ip_limiter=signup_limiter(settings, db.sessions, redis_client, "ip", settings.signup_limit_per_ip),
        proxies=settings.trusted_proxy_networks,
    )

    from newsletter.web import desk

    app.add_middleware(
        FormBodyCheck,
        refuse=lambda status, text, embed: pages.message(status, text, embed=embed),
        uploads=desk.UPLOAD_PATHS,
    )
    app.add_middleware(  # outside the form check, so its refusals carry the headers too
        SecurityHeaders,
        embed_ancestors=settings.embed_frame_ancestors,
        https=settings.base_url.startswith("https://"),
    )
    app.mount("/static", StaticFiles(directory=static_dir(settings)), name="static")
    app.include_router(forms.router)
    app.include_router(tokens.router)
    app.include_router(archive.router)
    from newsletter.web import webhooks

    app.include_router(webhooks.router)
    desk.install(app, app.state.web)
    _error_pages(app, pages)
    return app


def _error_pages(app: FastAPI, pages: Pages) -> None:
    """Every failure as a page (or a short text for non-page clients), never a traceback."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code)
        text = {404: "There is nothing at this address.", 405: "This address does not accept that request."}
        message = text.get(exc.status_code, TITLES.get(exc.status_code, "Error."))
        return pages.message(exc.status_code, message, headers=getattr(exc, "headers", None))

    async def bad_request(request: Request, exc: Exception) -> HTMLResponse:
        return pages.message(400, "Some of what was sent could not be read. Please go back and try again.")

    async def busy(request: Request, exc: Exception) -> HTMLResponse:
        log.warning("store refused a request: %s", exc)
        return pages.message(
            503,
            "We could not save this just now. Please try again in a moment.",
            headers={"Retry-After": "5"},
        )

    async def unknown_client(request: Request, exc: Exception) -> HTMLResponse:
        log.error("refused %s %s: %s", request.method, request.url.path, exc)
        return pages.message(
            400, "Our server could not tell where this request came from. Please try again later."
        )

    async def server_error(request: Request, exc: Exception) -> HTMLResponse:
        log.error("error while serving %s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        return pages.message(500, "Please try again later. The problem has been logged.")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(StoreError, busy)
    app.add_exception_handler(ForwardingError, unknown_client)
    app.add_exception_handler(NewsletterError, server_error)
    app.add_exception_handler(Exception, server_error)
