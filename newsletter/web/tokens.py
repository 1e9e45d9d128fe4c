"""The links in emails: ``/confirm/{token}`` and ``/u/{token}`` (built by ``newsletter.delivery.links``).

Confirm: following the link confirms (a second click shows the same thank-you page); an expired link
offers a fresh one, which the expired token itself entitles its holder to ask for.

Unsubscribe: GET shows one button and changes nothing, because mail scanners open links. POST with the
body ``List-Unsubscribe=One-Click`` (form-encoded or multipart) unsubscribes at once and answers 200 with
no redirect and no cookie, as RFC 8058 asks; the page's button posts the same body. Unsubscribe tokens
never expire. A forged or tampered token of either kind gets a clear page and changes nothing.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse

from newsletter.readers.signup import ConfirmOutcome
from newsletter.web.context import client_host, consent_from, web
from newsletter.web.ratelimit import client_key
from newsletter.web.security import CsrfResult, cross_origin
from subscribers.errors import InvalidToken, TokenExpired

router = APIRouter()

INVALID_LINK = (
    "This link is not valid. It may have been cut short or changed; "
    "please open it again from the email, or copy the whole address."
)
ONE_CLICK = "One-Click"


def mask(address: str | None) -> str:
    """``a…@example.org``: enough for a reader to recognise their address, little for anyone else."""
    if not address or "@" not in address:
        return ""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}…@{domain}"


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str, background: BackgroundTasks) -> HTMLResponse:
    context = web(request)
    try:
        result = context.flow.confirm(token, consent_from(request, "web:confirm link"))
    except TokenExpired:
        return context.pages.render("expired", status=410, token=token, csrf_token=context.csrf.issue())
    except InvalidToken:
        return context.pages.message(400, INVALID_LINK, title="This link is not valid")
    if result.outcome is ConfirmOutcome.refused:
        return context.pages.message(
            409,
            "This confirmation link can no longer be used. To receive the newsletter, please sign up again.",
            title="This link has been used up",
        )
    if result.mail is not None:
        background.add_task(context.flow.deliver, result.mail)
    return context.pages.render("confirmed")


@router.post("/confirm/resend", response_class=HTMLResponse)
def resend(
    request: Request,
    background: BackgroundTasks,
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> HTMLResponse:
    context = web(request)
    if cross_origin(request, [context.settings.base_url]):
        return context.pages.message(403, "This form can only be sent from our own pages.")
    if context.csrf.check(csrf) is not CsrfResult.ok:
        return context.pages.message(403, "This form had expired. Please open the link from the email again.")
    wait = context.ip_limiter.hit(client_key(client_host(request)))
    if wait:
        return context.pages.message(
            429,
            "Too many attempts from your network. Please try again later.",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    try:
        mail = context.flow.resend(token)
    except InvalidToken:
        return context.pages.message(400, INVALID_LINK, title="This link is not valid")
    if mail is not None:
        background.add_task(context.flow.deliver, mail)
    return context.pages.render("check_inbox")


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    context = web(request)
    try:
        subscriber_id = context.flow.unsubscriber(token)
    except InvalidToken:
        return context.pages.message(400, INVALID_LINK, title="This link is not valid")
    return context.pages.render(
        "unsubscribe", token=token, address=mask(context.flow.address_for(subscriber_id))
    )


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(
    request: Request,
    token: str,
    list_unsubscribe: Annotated[str, Form(alias="List-Unsubscribe")] = "",
    via: Annotated[str, Form()] = "",
) -> HTMLResponse:
    context = web(request)
    if list_unsubscribe.strip() != ONE_CLICK:
        return context.pages.message(
            400,
            "This request does not ask to unsubscribe. Open the link from the email and press the button.",
        )
    source = "web:unsubscribe page" if via == "page" else "list-unsubscribe one-click"
    try:
        context.flow.unsubscribe(token, consent_from(request, source))
    except InvalidToken:
        return context.pages.message(400, INVALID_LINK, title="This link is not valid")
    return context.pages.render("unsubscribed")
