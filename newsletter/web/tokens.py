"""The links in emails: ``/confirm/{token}`` and ``/u/{token}`` (built by ``newsletter.delivery.links``).

Both GET pages change nothing and show one button, because mail security scanners (Microsoft Safe
Links, Proofpoint, Mimecast) open every link in a message: a confirmation on GET would confirm
addresses nobody asked for, which is how spam traps get onto lists.

Confirm: GET shows the button, POST confirms (a second press shows the same thank-you page); an
expired link offers a fresh one, which the expired token itself entitles its holder to ask for.

Unsubscribe: POST with the body ``List-Unsubscribe=One-Click`` (form-encoded or multipart)
unsubscribes at once and answers 200 with no redirect and no cookie, as RFC 8058 asks; the page's
button posts the same body. Unsubscribe tokens never expire. Both links are answered with or without
a trailing slash (never with a redirect, which one-click senders do not follow). A forged or tampered
token of either kind gets a clear page and changes nothing.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse

from newsletter.readers.signup import ConfirmOutcome
from newsletter.web.context import WebContext, client_host, consent_from, web
from newsletter.web.ratelimit import client_key
from newsletter.web.security import CsrfResult, cross_origin
from subscribers.errors import InvalidToken, TokenExpired

router = APIRouter()

INVALID_LINK = (
    "This link is not valid. It may have been cut short or changed; "
    "please open it again from the email, or copy the whole address."
)
ONE_CLICK = "One-Click"


def _invalid_link(context: WebContext) -> HTMLResponse:
    return context.pages.message(400, INVALID_LINK, title="This link is not valid")


def mask(address: str | None) -> str:
    """``a…@example.org``: enough for a reader to recognise their address, little for anyone else."""
    if not address or "@" not in address:
        return ""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}…@{domain}"


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
        return _invalid_link(context)
    if mail is not None:
        background.add_task(context.flow.deliver, mail)
    return context.pages.render("check_inbox")


def _expired(request: Request, token: str) -> HTMLResponse:
    context = web(request)
    return context.pages.render("expired", status=410, token=token, csrf_token=context.csrf.issue())


@router.get("/confirm/{token}", response_class=HTMLResponse)
@router.get("/confirm/{token}/", response_class=HTMLResponse, include_in_schema=False)
def confirm_page(request: Request, token: str) -> HTMLResponse:
    context = web(request)
    try:
        subscriber_id = context.flow.confirmer(token)
    except TokenExpired:
        return _expired(request, token)
    except InvalidToken:
        return _invalid_link(context)
    return context.pages.render("confirm", token=token, address=mask(context.flow.address_for(subscriber_id)))


@router.post("/confirm/{token}", response_class=HTMLResponse)
@router.post("/confirm/{token}/", response_class=HTMLResponse, include_in_schema=False)
def confirm(request: Request, token: str, background: BackgroundTasks) -> HTMLResponse:
    context = web(request)
    if cross_origin(request, [context.settings.base_url]):
        return context.pages.message(403, "This form can only be sent from our own pages.")
    try:
        result = context.flow.confirm(token, consent_from(request, "web:confirm button"))
    except TokenExpired:
        return _expired(request, token)
    except InvalidToken:
        return _invalid_link(context)
    if result.outcome is ConfirmOutcome.refused:
        return context.pages.message(
            409,
            "This confirmation link can no longer be used. To receive the newsletter, please sign up again.",
            title="This link has been used up",
        )
    if result.mail is not None:
        background.add_task(context.flow.deliver, result.mail)
    return context.pages.render("confirmed")


@router.get("/u/{token}", response_class=HTMLResponse)
@router.get("/u/{token}/", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    context = web(request)
    try:
        subscriber_id = context.flow.unsubscriber(token)
    except InvalidToken:
        return _invalid_link(context)
    return context.pages.render(
        "unsubscribe", token=token, address=mask(context.flow.address_for(subscriber_id))
    )


@router.post("/u/{token}", response_class=HTMLResponse)
@router.post("/u/{token}/", response_class=HTMLResponse, include_in_schema=False)
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
        return _invalid_link(context)
    return context.pages.render("unsubscribed")
