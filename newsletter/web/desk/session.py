"""Desk sessions: a signed cookie naming the editor, and the CSRF token bound to that one session.

The cookie (``nl_desk``, path ``/desk``) holds ``{editor id, generation, nonce}`` signed and
timestamped with itsdangerous under a key derived from the secret for this purpose only, so no
subscriber token, CSRF token or VERP address can ever pass for it. It is HttpOnly, SameSite=Lax, and
Secure when the public URL is https; it expires after ``desk_session_hours``. The generation ties it to
the editor's current password (editors.generation): a new password ends every older session.

Every state-changing desk form carries ``csrf``: an HMAC of the session's nonce, so a token taken from
one session is worthless in another, and a post is also refused when the browser says it came from
another site. Both are checked before any route runs (``signed_in``), never left to each route.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

COOKIE = "nl_desk"
COOKIE_PATH = "/desk"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclasses.dataclass(frozen=True)
class DeskSession:
    editor_id: int
    generation: str
    nonce: str


class DeskSessions:
    """Issues and reads the session cookie; signs and checks the per-session CSRF token."""

    def __init__(self, secret: str, *, hours: int, https: bool) -> None:
        self._cookies = URLSafeTimedSerializer(secret, salt="newsletter-desk-session")
        self._links = URLSafeTimedSerializer(secret, salt="newsletter-desk-password-link")
        self._csrf_key = hmac.new(secret.encode(), b"newsletter-desk-csrf", hashlib.sha256).digest()
        self.max_age = hours * 3600
        self.https = https

    def issue(self, editor_id: int, generation: str) -> str:
        return self._cookies.dumps({"e": editor_id, "g": generation, "n": secrets.token_urlsafe(18)})

    def read(self, cookie: str | None) -> DeskSession | None:
        if not cookie or len(cookie) > 400:
            return None
        try:
            data: Any = self._cookies.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        editor, gen, nonce = data.get("e"), data.get("g"), data.get("n")
        if not isinstance(editor, int) or not isinstance(gen, str) or not isinstance(nonce, str):
            return None
        return DeskSession(editor, gen, nonce)

    def csrf_token(self, session: DeskSession) -> str:
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, session: DeskSession, token: str | None) -> bool:
        if not token or len(token) != 40:
            return False
        return hmac.compare_digest(self.csrf_token(session).encode(), token.encode("utf-8", "replace"))

    def set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age,
            path=COOKIE_PATH,
            httponly=True,
            secure=self.https,
            samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, secure=self.https, samesite="lax")

    def password_link_token(self, editor_id: int, generation: str) -> str:
        return self._links.dumps({"e": editor_id, "g": generation})

    def read_password_link(self, token: str, max_age: int) -> tuple[int, str] | None:
        if len(token) > 400:
            return None
        try:
            data: Any = self._links.loads(token, max_age=max_age)
        except BadSignature:
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("e"), int)
            or not isinstance(data.get("g"), str)
        ):
            return None
        return data["e"], data["g"]
