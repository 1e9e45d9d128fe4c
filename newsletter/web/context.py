"""What every route needs, built once by ``create_app`` and kept on ``app.state.web``."""

from __future__ import annotations

import dataclasses
import logging

from starlette.requests import Request

from newsletter.config import Settings
from newsletter.readers.signup import SignupFlow
from newsletter.web.clients import ForwardingError, IPNetwork, client_address
from newsletter.web.pages import Pages
from newsletter.web.ratelimit import SlidingWindowLimiter
from newsletter.web.security import CsrfTokens
from subscribers.store import Consent

log = logging.getLogger("newsletter.web")


@dataclasses.dataclass
class WebContext:
    settings: Settings
    flow: SignupFlow
    pages: Pages
    csrf: CsrfTokens
    ip_limiter: SlidingWindowLimiter
    address_limiter: SlidingWindowLimiter
    proxies: tuple[IPNetwork, ...] = ()


def web(request: Request) -> WebContext:
    context = request.app.state.web
    assert isinstance(context, WebContext)
    return context


def client_host(request: Request) -> str | None:
    """The client's address (see ``clients``); ForwardingError when a trusted proxy sent none."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), web(request).proxies)


def consent_from(request: Request, source: str, **detail: str) -> Consent:
    """The evidence a request carries: when (the event's time), from where (IP), with what (user agent).

    A misconfigured proxy never stops a confirmation or an unsubscribe: the IP is then left out.
    """
    try:
        ip = client_host(request)
    except ForwardingError as exc:
        log.error("client address unknown: %s", exc)
        ip = None
    return Consent(source=source, ip=ip, user_agent=request.headers.get("user-agent"), detail=detail)
