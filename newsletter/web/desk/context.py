"""What every desk route needs (kept on ``app.state.desk``), the pages, and the one gate: ``signed_in``.

Every desk router but the sign-in pages is mounted with ``Depends(signed_in)``, so no route can forget
it: without a valid session a GET is sent to the sign-in page and anything else is refused (403); a
state-changing request must also carry the session's CSRF token and come from our own pages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.edition.render import Renderer
from newsletter.edition.stored import Edition
from newsletter.readers.signup import Limiter, SignupFlow
from newsletter.web.desk.editors import Editor, EditorStore, generation
from newsletter.web.desk.findings import DeskFindings
from newsletter.web.desk.refusal import DeskRefusal
from newsletter.web.desk.runner import KEY, SendRunner
from newsletter.web.desk.session import COOKIE, SAFE_METHODS, DeskSession, DeskSessions
from newsletter.web.pages import Pages
from newsletter.web.security import CsrfTokens, cross_origin

MAX_BODY_BYTES = 60_000_000  # the largest CSV import (50 MB) and its form around it
DESK_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-src 'self'; frame-ancestors 'none'"
)


@dataclasses.dataclass
class DeskContext:
    settings: Settings
    database: Database
    editors: EditorStore
    sessions: DeskSessions
    pages: Pages
    renderer: Renderer
    csrf: CsrfTokens  # the stateless tokens, for the forms shown before there is a session
    flow: SignupFlow
    runner: SendRunner
    findings: DeskFindings
    ip_limiter: Limiter
    account_limiter: Limiter

    def render(
        self,
        template: str,
        *,
        signed: Signed | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A desk page: the desk layout, the signed-in editor and their CSRF token, the desk's CSP."""
        response = self.pages.render(
            f"desk/{template}",
            status=status,
            headers={"Content-Security-Policy": DESK_CSP, **(headers or {})},
            editor=signed.editor if signed else None,
            csrf_token=signed.csrf if signed else "",
            **context,
        )
        return response


@dataclasses.dataclass(frozen=True)
class Signed:
    """The editor behind a request, with the CSRF token their forms carry."""

    editor: Editor
    session: DeskSession
    csrf: str


def desk(request: Request) -> DeskContext:
    context = request.app.state.desk
    assert isinstance(context, DeskContext)
    return context


def edition_or_404(context: DeskContext, key: str) -> Edition:
    edition = context.database.ledger.find_edition(key) if KEY.match(key) else None
    if edition is None:
        raise DeskRefusal(404, "There is no edition by that name.")
    return edition


def _refuse(request: Request, text: str) -> DeskRefusal:
    if request.method in SAFE_METHODS:
        target = "/desk/sign-in"
        if request.url.path not in ("/desk", "/desk/"):
            target += "?next=" + quote(request.url.path, safe="/")
        return DeskRefusal(303, text, location=target)
    return DeskRefusal(403, text)


async def signed_in(request: Request) -> Signed:
    context = desk(request)
    session = context.sessions.read(request.cookies.get(COOKIE))
    editor = await run_in_threadpool(context.editors.get, session.editor_id) if session else None
    if (
        session is None
        or editor is None
        or not editor.password_hash
        or generation(editor) != session.generation
    ):
        raise _refuse(request, "Please sign in to the desk.")
    signed = Signed(editor, session, context.sessions.csrf_token(session))
    if request.method not in SAFE_METHODS:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise DeskRefusal(
                413, f"That is more than the desk takes in one go ({MAX_BODY_BYTES // 1_000_000} MB)."
            )
        if cross_origin(request, [context.settings.base_url]):
            raise DeskRefusal(403, "This form can only be sent from the desk's own pages.")
        token = request.headers.get("x-csrf-token")
        if token is None:
            form = await request.form()
            value = form.get("csrf")
            token = value if isinstance(value, str) else None
        if not context.sessions.csrf_ok(session, token):
            raise DeskRefusal(
                403, "This form could not be accepted. Please go back, reload the page and try again."
            )
    request.state.signed = signed
    return signed
