"""What every route needs, built once by ``create_app`` and kept on ``app.state.web``."""

from __future__ import annotations

import dataclasses

from starlette.requests import Request

from newsletter.config import Settings
from newsletter.readers.signup import Limiter, SignupFlow
from newsletter.web.pages import Pages
from newsletter.web.security import CsrfTokens
from subscribers.store import Consent


@dataclasses.dataclass
class WebContext:
    settings: Settings
    flow: SignupFlow
    pages: Pages
    csrf: CsrfTokens
    ip_limiter: Limiter
    address_limiter: Limiter


def web(request: Request) -> WebContext:
    context = request.app.state.web
    assert isinstance(context, WebContext)
    return context


def client_host(request: Request) -> str | None:
    return request.client.host if request.client else None


def consent_from(request: Request, source: str, **detail: str) -> Consent:
    """The evidence a request carries: when (the event's time), from where (IP), with what (user agent)."""
    return Consent(
        source=source, ip=client_host(request), user_agent=request.headers.get("user-agent"), detail=detail
    )
