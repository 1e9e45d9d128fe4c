"""The desk's one exception, in a module of its own: the web app registers its handler at start-up,
before the desk's routes (and what they import) are loaded at the first desk request."""

from __future__ import annotations


class DeskRefusal(Exception):
    """A desk request refused with a page saying why (or, for a GET without a session, a redirect)."""

    def __init__(self, status: int, text: str, *, location: str = "") -> None:
        super().__init__(text)
        self.status, self.text, self.location = status, text, location
