"""Form posts are read whole, checked to be UTF-8 and small, and only then handed to the routes.

Starlette decodes form fields leniently: a percent-escape that is not UTF-8 becomes U+FFFD, and a
multipart part that is not UTF-8 is read as Latin-1. ``email=%FF%FEx%40example.com`` then arrived
as an internationalised address, was stored and mailed. Every form on these pages is served as
UTF-8 and browsers send it back as UTF-8, so anything else is a broken or hostile client: it gets a
400 page saying so, before any route sees a value. The same pass caps form bodies (the largest
honest one is a few hundred bytes): a declared or streamed body over ``max_bytes`` gets a 413.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")
DEFAULT_MAX_BYTES = 64 * 1024
NOT_UTF8 = (
    "This form arrived with text that is not valid UTF-8, so it could not be read. "
    "Please type it again in the form on our page."
)
TOO_LARGE = "This form sent far more data than it holds. Please use the form on our page."

Refusal = Callable[[int, str, bool], Response]  # status, message, embedded page?


def is_utf8_form(content_type: bytes, body: bytes) -> bool:
    """True when every field of the body decodes as UTF-8 (a multipart body only holds text fields)."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith(FORM_TYPES[0]):
            parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        return False
    return True


class FormBodyCheck:
    """ASGI middleware: buffers form posts (never anything else), refuses broken ones, replays the rest."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        refuse: Refusal,
        max_bytes: int = DEFAULT_MAX_BYTES,
        uploads: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self._refuse = refuse
        self._max_bytes = max_bytes
        # File uploads (the desk's digest and CSV forms) hold bytes of any encoding and size: their
        # routes check them (size, encoding, CSRF behind a session) instead.
        self._uploads = frozenset(uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = self._form_type(scope)
        if content_type is None or (
            content_type.startswith(FORM_TYPES[1]) and scope.get("path") in self._uploads
        ):
            await self.app(scope, receive, send)
            return
        embed = str(scope.get("path", "")).startswith("/embed")
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._max_bytes:
            await self._refuse(413, TOO_LARGE, embed)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_bytes:
                await self._refuse(413, TOO_LARGE, embed)(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not is_utf8_form(content_type, body):
            await self._refuse(400, NOT_UTF8, embed)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _form_type(scope: Scope) -> bytes | None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            return None
        for name, value in scope["headers"]:
            if name == b"content-type":
                lowered = bytes(value).lower().strip()
                return lowered if lowered.startswith(FORM_TYPES) else None
        return None
