"""The web copy of an edition: what ``/archive/<key>/`` shows, the same for everyone who opens it.

Rendered from the digest the edition stored, with ``web_copy`` on: no greeting by name, no unsubscribe
link, no view-in-browser link. A template of the editor's own that ignores ``web_copy`` still never
shows a reader's details: any slot left is filled with a neutral value before the page leaves.
"""

from __future__ import annotations

import dataclasses

from pydantic import ValidationError

from newsletter.config import Settings
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from newsletter.edition.slots import slot_marker
from newsletter.edition.stored import Edition
from newsletter.errors import RenderError

NEUTRAL = {"name": "reader", "unsubscribe_url": ""}


@dataclasses.dataclass(frozen=True)
class WebCopy:
    key: str
    subject: str
    preheader: str
    html: str


def stored_digest(edition: Edition) -> Digest:
    try:
        return Digest.model_validate_json(edition.digest_json)
    except (ValidationError, ValueError) as exc:
        raise RenderError(f"edition {edition.key}: its stored digest no longer reads: {exc}") from None


def render_web_copy(edition: Edition, settings: Settings, renderer: Renderer) -> WebCopy:
    digest = stored_digest(edition)
    rendered = renderer.render_edition(digest, settings, web_copy=True)
    page = rendered.html
    signup = settings.base_url.rstrip("/") + "/"
    for name, value in NEUTRAL.items():
        page = page.replace(slot_marker(name), value or signup)
    return WebCopy(edition.key, edition.subject, rendered.preheader, page)


class WebCopies:
    """Web copies rendered once per edition content (a few ms each), kept while the process runs."""

    def __init__(self, settings: Settings, renderer: Renderer, limit: int = 64) -> None:
        self._settings = settings
        self._renderer = renderer
        self._limit = limit
        self._copies: dict[tuple[str, str], WebCopy] = {}

    def get(self, edition: Edition) -> WebCopy:
        cache_key = (edition.key, edition.content_hash)
        copy = self._copies.get(cache_key)
        if copy is None:
            copy = render_web_copy(edition, self._settings, self._renderer)
            if len(self._copies) >= self._limit:
                self._copies.pop(next(iter(self._copies)))
            self._copies[cache_key] = copy
        return copy
