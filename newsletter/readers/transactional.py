"""One-off messages to one person: the double opt-in confirmation and the welcome after it.

They travel the same road as an edition (``MessageTemplate`` → ``Transport``), so every transport that
can send an edition can send these, and the headers are built by the same careful code (no display name
can start a header line; List-Unsubscribe is never folded into encoded words). The MJML and text
templates are rendered once per process; per message only the confirm link is put in by a string
replace, the way personalisation fills slots, and a small ``MessageTemplate`` is encoded around it.
"""

from __future__ import annotations

import dataclasses
import email.utils
import html
import secrets

from newsletter.config import Settings
from newsletter.delivery.links import Links
from newsletter.delivery.message import OutboundMessage, encode_text, format_address, single_line
from newsletter.delivery.personalise import MessageTemplate
from newsletter.edition.render import Renderer
from newsletter.edition.slots import slot_marker

CONFIRM_SLOT = slot_marker("confirm_url")


def newsletter_name(settings: Settings) -> str:
    """The list's name: the setting, else the From display name, else the From domain."""
    if settings.newsletter_name.strip():
        return single_line(settings.newsletter_name)
    display, _ = email.utils.parseaddr(single_line(settings.from_address))
    return display or settings.from_domain


@dataclasses.dataclass(frozen=True)
class _Rendered:
    subject: str
    html: str
    text: str


class TransactionalMail:
    """Builds confirmation and welcome messages for one list; cheap per message after the first."""

    def __init__(self, settings: Settings, renderer: Renderer, links: Links) -> None:
        self._settings = settings
        self._renderer = renderer
        self._links = links
        self._name = newsletter_name(settings)
        from_name, from_addr = email.utils.parseaddr(single_line(settings.from_address))
        self._from_header = format_address(from_name, from_addr)
        self._list_id = f"{encode_text(self._name, 'List-Id')} <{settings.effective_list_id}>"
        self._cache: dict[str, _Rendered] = {}

    def _rendered(self, kind: str, subject: str) -> _Rendered:
        cached = self._cache.get(kind)
        if cached is None:
            context = {
                "newsletter": self._name,
                "base_url": self._settings.base_url.rstrip("/"),
                "postal_address": self._settings.postal_address,
            }
            html_body, text = self._renderer.render_email(kind, context)
            cached = self._cache[kind] = _Rendered(subject, html_body, text)
        return cached

    def _build(
        self,
        kind: str,
        rendered: _Rendered,
        subscriber_id: int,
        address: str,
        name: str,
        html_body: str,
        text: str,
    ) -> tuple[MessageTemplate, OutboundMessage]:
        template = MessageTemplate(
            subject=rendered.subject,
            text=text,
            html_body=html_body,
            from_header=self._from_header,
            list_id_header=self._list_id,
            feedback_id=f"{kind}:{self._settings.effective_list_id.replace(':', '')}:newsletter:"
            f"{self._settings.from_domain}",
            date=email.utils.formatdate(usegmt=True),
        )
        token = self._links.unsubscribe_token(subscriber_id)
        # A random Message-ID: a resent confirmation is a new message, not a duplicate to drop.
        message = OutboundMessage(
            subscriber_id=subscriber_id,
            email=address,
            name=name,
            message_id=f"<{kind}.s{subscriber_id}.{secrets.token_hex(8)}@{self._settings.from_domain}>",
            envelope_from=self._settings.effective_bounce_address,
            unsubscribe_url=self._links.unsubscribe_url(token),
            unsubscribe_mailto=self._links.unsubscribe_mailto(token),
            ref=f"{kind}-s{subscriber_id}",
        )
        return template, message

    def confirmation(
        self, subscriber_id: int, address: str, name: str = "", *, now: float | None = None
    ) -> tuple[MessageTemplate, OutboundMessage]:
        """The double opt-in message with a fresh, expiring confirm link."""
        rendered = self._rendered("confirm", f"Confirm your subscription to {self._name}")
        url = self._links.confirm_url(subscriber_id, now=now)
        html_body = rendered.html.replace(CONFIRM_SLOT, html.escape(url))
        text = rendered.text.replace(CONFIRM_SLOT, url)
        return self._build("confirm", rendered, subscriber_id, address, name, html_body, text)

    def welcome(
        self, subscriber_id: int, address: str, name: str = ""
    ) -> tuple[MessageTemplate, OutboundMessage]:
        """Sent once after confirmation; its footer carries the one-click unsubscribe link."""
        rendered = self._rendered("welcome", f"Welcome to {self._name}")
        return self._build("welcome", rendered, subscriber_id, address, name, rendered.html, rendered.text)
