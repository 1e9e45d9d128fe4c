"""Security of the pages: CSRF tokens for the forms, the same-origin check, and the response headers.

CSRF tokens are stateless and need no cookie: ``<issued>.<nonce>.<signature>``, HMAC-SHA256 under a key
derived from the secret, checked with ``hmac.compare_digest`` and valid for a few hours. No cookie is
deliberate: the embeddable form runs in an iframe on editors' sites, where browsers block third-party
cookies, and a site that sets no cookies needs no cookie banner. A token alone could be fetched by
another site's server and replayed, so form posts are also refused when the browser says they come
from another origin (``Origin``, falling back to ``Sec-Fetch-Site``); pages send
``Referrer-Policy: same-origin`` because ``no-referrer`` makes Chromium send ``Origin: null`` on posts.

The RFC 8058 one-click unsubscribe POST is exempt by design: mail providers send it without cookies or
a page, and the signed unsubscribe token in its URL is the proof.

Headers: a CSP with no inline script or style (pages have no JavaScript at all), no framing except for
the embeddable form (``frame-ancestors`` from the settings), nosniff, and no caching of pages that
carry tokens; HSTS when the public URL is https.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_TTL_SECONDS = 6 * 3600
EMBED_PATH = "/embed"
ARCHIVE_PREFIX = "/archive/"
ARCHIVE_PAGES = (ARCHIVE_PREFIX, ARCHIVE_PREFIX + "feed.atom")  # the site's own pages, strict CSP
_FRAME_SOURCE = re.compile(r"^(\*|'self'|'none'|[a-z][a-z0-9+.-]*:(//[a-z0-9.*:-]+)?)$", re.IGNORECASE)


class CsrfResult(enum.Enum):
    ok = "ok"
    expired = "expired"  # genuine but old: show the form again, values kept
    invalid = "invalid"  # missing, forged or tampered


class CsrfTokens:
    """Issues and checks the hidden-field tokens of the signup and resend forms."""

    def __init__(self, secret: str, ttl_seconds: int = CSRF_TTL_SECONDS) -> None:
        self._key = hmac.new(secret.encode("utf-8"), b"newsletter-csrf", hashlib.sha256).digest()
        self.ttl_seconds = ttl_seconds

    def _sign(self, issued: str, nonce: str) -> str:
        digest = hmac.new(self._key, f"{issued}.{nonce}".encode("ascii"), hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode("ascii")

    def issue(self, now: float | None = None) -> str:
        issued = format(int(time.time() if now is None else now), "x")
        nonce = secrets.token_urlsafe(9)
        return f"{issued}.{nonce}.{self._sign(issued, nonce)}"

    def check(self, token: str | None, now: float | None = None) -> CsrfResult:
        if not token or len(token) > 80 or not token.isascii():
            return CsrfResult.invalid
        parts = token.split(".")
        if len(parts) != 3:
            return CsrfResult.invalid
        issued, nonce, signature = parts
        if not hmac.compare_digest(self._sign(issued, nonce).encode("ascii"), signature.encode("ascii")):
            return CsrfResult.invalid
        try:
            age = (time.time() if now is None else now) - int(issued, 16)
        except ValueError:
            return CsrfResult.invalid
        return CsrfResult.ok if -60 <= age <= self.ttl_seconds else CsrfResult.expired


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_origin(request: Request, trusted: Iterable[str]) -> bool:
    """True when the browser says this POST was sent by a page of another site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        allowed = {origin_of(str(request.base_url)), *(origin_of(t) for t in trusted)}
        return origin.lower().rstrip("/") not in allowed
    return request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")


def frame_ancestors(setting: str) -> str:
    """The CSP frame-ancestors sources from the setting, keeping only well-formed ones."""
    sources = [s for s in setting.split() if _FRAME_SOURCE.match(s)]
    return " ".join(sources) or "'none'"


class SecurityHeaders:
    """ASGI middleware adding the security headers to every response (pure ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp, *, embed_ancestors: str = "'none'", https: bool = False) -> None:
        self.app = app
        self._https = https  # the public URL is https: tell browsers never to use plain http here
        base = (
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
            "base-uri 'none'; frame-src 'self'"
        )
        self._csp = f"{base}; frame-ancestors 'none'"
        self._embed_csp = f"{base}; frame-ancestors {frame_ancestors(embed_ancestors)}"
        # An edition's web copy is the email's own HTML: inline styles, remote images; still no script.
        self._edition_csp = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        embed = path == EMBED_PATH
        edition = path.startswith(ARCHIVE_PREFIX) and path not in ARCHIVE_PAGES

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # A route may set its own (the desk's pages allow their script; its preview frame).
                if "content-security-policy" not in headers:
                    csp = self._embed_csp if embed else self._edition_csp if edition else self._csp
                    headers["Content-Security-Policy"] = csp
                if not embed and "x-frame-options" not in headers:
                    headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                if self._https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
                if headers.get("content-type", "").startswith("text/html") and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
