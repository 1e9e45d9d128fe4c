"""Signing in to the desk, setting a password from the one-time link, and signing out.

A failed sign-in says only that the name and password do not match, never which half was wrong, and
costs the same Argon2 verification either way (editors.EditorStore.authenticate). Attempts are counted
per client IP and per editor name, known or not, in sliding windows (``desk_signin_limit_per_ip``,
``desk_signin_limit_per_account``, ``desk_signin_window``), kept where the signup limits are (Redis when
``redis_url`` is set, else the database), so every process and host serving the desk counts together;
past either limit every attempt, even a right one, is refused with 429 until the window moves on.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.web.context import client_host
from newsletter.web.desk.context import Signed, desk, signed_in
from newsletter.web.desk.editors import MAX_PASSWORD, EditorError, generation
from newsletter.web.ratelimit import client_key
from newsletter.web.security import CsrfResult, cross_origin

public = APIRouter()
private = APIRouter(dependencies=[Depends(signed_in)])

PASSWORD_LINK_HOURS = 72
Field = Annotated[str, Form(max_length=MAX_PASSWORD)]


def safe_next(target: str) -> str:
    """Only a desk path of our own: never another site (``//evil``, ``https://…``) or a header break."""
    if (
        target.startswith("/desk/")
        and not target.startswith("//")
        and target.isprintable()
        and "\\" not in target
    ):
        return target
    return "/desk/"


def _signin_page(
    request: Request, *, status: int = 200, error: str = "", name: str = "", next_: str = ""
) -> HTMLResponse:
    context = desk(request)
    return context.render(
        "signin",
        status=status,
        form_token=context.csrf.issue(),
        error=error,
        name=name[:100],
        next=safe_next(next_),
        headers={"Retry-After": "60"} if status == 429 else None,
    )


@public.get("/desk/sign-in", response_class=HTMLResponse)
def signin_page(request: Request, next: Annotated[str, Query(max_length=300)] = "/desk/") -> HTMLResponse:
    return _signin_page(request, next_=next)


@public.post("/desk/sign-in")
def signin(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Field = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=300)] = "/desk/",
) -> Response:
    context = desk(request)
    if cross_origin(request, [context.settings.base_url]):
        return _signin_page(request, status=403, error="This form can only be sent from the desk's own page.")
    if context.csrf.check(csrf) is not CsrfResult.ok:
        return _signin_page(
            request, status=403, name=name, next_=next, error="The page had expired. Please sign in again."
        )
    wait = max(
        context.ip_limiter.hit(client_key(client_host(request))),
        context.account_limiter.hit(name.strip().lower()[:100] or "(empty)"),
    )
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        return _signin_page(
            request,
            status=429,
            name=name,
            next_=next,
            error=f"Too many sign-in attempts. Please wait {minutes} minute{'s' if minutes > 1 else ''} "
            "and try again.",
        )
    editor = context.editors.authenticate(name, password)
    if editor is None:
        return _signin_page(
            request,
            status=403,
            name=name,
            next_=next,
            error="That name and password do not match an editor of this desk.",
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    context.sessions.set_cookie(response, context.sessions.issue(editor.id, generation(editor)))
    return response


def _link_editor(request: Request, token: str) -> tuple[int, str] | None:
    context = desk(request)
    found = context.sessions.read_password_link(token, PASSWORD_LINK_HOURS * 3600)
    if found is None:
        return None
    editor = context.editors.get(found[0])
    return found if editor is not None and generation(editor) == found[1] else None


def _dead_link(request: Request) -> HTMLResponse:
    return desk(request).render(
        "message",
        status=404,
        title="This link no longer works",
        text="Password links work once and for three days. Ask for a new one: newsletter editors reset NAME.",
    )


@public.get("/desk/set-password/{token}", response_class=HTMLResponse)
def password_page(request: Request, token: str) -> HTMLResponse:
    found = _link_editor(request, token)
    if found is None:
        return _dead_link(request)
    context = desk(request)
    editor = context.editors.get(found[0])
    assert editor is not None
    return context.render(
        "set_password", form_token=context.csrf.issue(), token=token, name=editor.name, error=""
    )


@public.post("/desk/set-password/{token}")
def set_password(
    request: Request,
    token: str,
    password: Field = "",
    repeat: Field = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    context = desk(request)
    found = _link_editor(request, token)
    if found is None:
        return _dead_link(request)
    editor = context.editors.get(found[0])
    assert editor is not None

    def again(error: str, status: int) -> HTMLResponse:
        return context.render(
            "set_password",
            status=status,
            form_token=context.csrf.issue(),
            token=token,
            name=editor.name,
            error=error,
        )

    if cross_origin(request, [context.settings.base_url]) or context.csrf.check(csrf) is not CsrfResult.ok:
        return again("The page had expired. Please enter the password again.", 403)
    if password != repeat:
        return again("The two passwords are not the same.", 422)
    try:
        updated = context.editors.set_password(found[0], password, expected_generation=found[1])
    except EditorError as exc:
        return again(str(exc).capitalize() + ".", 422)
    response = RedirectResponse("/desk/", status_code=303)
    context.sessions.set_cookie(response, context.sessions.issue(updated.id, generation(updated)))
    return response


@private.post("/desk/sign-out")
def signout(request: Request, signed: Annotated[Signed, Depends(signed_in)]) -> Response:
    response = RedirectResponse("/desk/sign-in", status_code=303)
    desk(request).sessions.clear_cookie(response)
    return response
