"""The signup form: the front page, the embeddable version, and what happens when either is sent.

A post goes through the same gates in the same order: same-origin check, CSRF token, per-IP limit,
honeypot, address validation. Past the gates every outcome is the same "check your inbox" page, byte
for byte, whether the address was new, pending, confirmed or unsubscribed, after the same work (the
attempt is recorded); applying it to the list and mailing the confirmation (if any) happen after the
response, so the timing does not tell either.
"""

from __future__ import annotations

import html
import logging
import math
import re
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request
from fastapi.responses import HTMLResponse

from newsletter.web.context import client_host, consent_from, web
from newsletter.web.ratelimit import client_key
from newsletter.web.security import CsrfResult, cross_origin
from subscribers.errors import InvalidAddress

log = logging.getLogger("newsletter.web")
router = APIRouter()

SITE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,39}$")
MAX_EMAIL_INPUT = 320

FormField = Annotated[str, Form()]


def _site(raw: str) -> str:
    """The embedding site's label from ``?site=``; anything else than a short slug is dropped."""
    raw = raw.strip().lower()
    return raw if SITE.match(raw) else ""


@router.get("/", response_class=HTMLResponse)
def signup_page(request: Request) -> HTMLResponse:
    return web(request).pages.form(embed=False)


@router.get("/embed", response_class=HTMLResponse)
def embed_page(request: Request, site: Annotated[str, Query(max_length=200)] = "") -> HTMLResponse:
    return web(request).pages.form(embed=True, site=_site(site))


@router.get("/embed/snippet", response_class=HTMLResponse)
def embed_snippet(request: Request) -> HTMLResponse:
    context = web(request)
    base = context.settings.base_url.rstrip("/")
    title = html.escape(f"Subscribe to {context.pages.common['newsletter']}", quote=True)
    snippet = (
        f'<iframe src="{html.escape(base, quote=True)}/embed" title="{title}" width="100%" '
        'height="380" style="border:0;max-width:480px" loading="lazy"></iframe>'
    )
    return context.pages.render("snippet", snippet=snippet)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    background: BackgroundTasks,
    email: FormField = "",
    name: FormField = "",
    csrf: FormField = "",
    website: FormField = "",
) -> HTMLResponse:
    return _signup(request, background, embed=False, email=email, name=name, csrf=csrf, website=website)


@router.post("/embed", response_class=HTMLResponse)
def subscribe_embedded(
    request: Request,
    background: BackgroundTasks,
    email: FormField = "",
    name: FormField = "",
    csrf: FormField = "",
    website: FormField = "",
    site: FormField = "",
) -> HTMLResponse:
    return _signup(
        request, background, embed=True, email=email, name=name, csrf=csrf, website=website, site=_site(site)
    )


def _signup(
    request: Request,
    background: BackgroundTasks,
    *,
    embed: bool,
    email: str,
    name: str,
    csrf: str,
    website: str,
    site: str = "",
) -> HTMLResponse:
    context = web(request)
    pages = context.pages
    refill = {"email": email[:MAX_EMAIL_INPUT], "name": name[:200], "site": site}
    if cross_origin(request, [context.settings.base_url]):
        return pages.message(403, "This form can only be sent from our own pages.", embed=embed)
    checked = context.csrf.check(csrf)
    if checked is CsrfResult.invalid:
        return pages.form(
            embed=embed, status=403, **refill, notice="This form could not be accepted. Please send it again."
        )
    if checked is CsrfResult.expired:
        return pages.form(
            embed=embed,
            status=400,
            **refill,
            notice="This form had been open for a long time. Please send it again.",
        )
    wait = context.ip_limiter.hit(client_key(client_host(request)))
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        return pages.message(
            429,
            f"Too many signups from your network. Please try again in {minutes} minute"
            f"{'s' if minutes > 1 else ''}.",
            embed=embed,
            headers={"Retry-After": str(math.ceil(wait))},
        )
    if website:
        log.info("honeypot field filled; signup ignored")
        return pages.render("check_inbox", embed=embed)
    if len(email) > MAX_EMAIL_INPUT:
        return pages.form(embed=embed, status=422, **refill, error="The email address is too long.")
    source = f"web:embed:{site}" if site else ("web:embed" if embed else "web:form")
    consent = consent_from(request, source, form="embedded form" if embed else "signup page")
    try:
        attempt = context.flow.request(email, name, consent)
    except InvalidAddress as exc:
        return pages.form(embed=embed, status=422, **refill, error=str(exc))
    background.add_task(context.flow.complete, attempt)
    return pages.render("check_inbox", embed=embed)
