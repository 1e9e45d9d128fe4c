"""The per-recipient slots of an edition and its archive address: what a sender needs of the edition stage.

Kept apart from ``render`` and ``digest`` so that a process that only sends stored editions (a
``newsletter worker``, a resumed send) never imports Jinja, MJML, pydantic or YAML: about 13 MB of a
worker's memory, whose goal is 100 MB.
"""

from __future__ import annotations

import re
from typing import Final

PER_RECIPIENT_SLOTS: Final = ("name", "unsubscribe_url")
"""Slots of an edition; personalisation fills these (HTML-escaping ``name`` in the HTML part only)."""

_SLOT_NAME = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")


def slot_marker(name: str) -> str:
    """The placeholder a template writes where a per-recipient value goes.

    Names are lower-case words joined by single underscores, so no marker can be a substring of
    another one and a fill by ``str.replace`` can never hit the wrong slot.
    """
    if not _SLOT_NAME.fullmatch(name):
        raise ValueError(
            f"slot name {name!r}: use lower-case letters and digits joined by single underscores"
        )
    return f"__nl_slot_{name}__"


def archive_url(base_url: str, key: str) -> str:
    """The stable web address of an edition: ``/archive/<date>-<issue>/``."""
    return f"{base_url.rstrip('/')}/archive/{key}/"
