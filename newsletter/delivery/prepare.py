"""Preparing an edition for sending: render once, store it, and build its MessageTemplate.

An edition is identified by a key made from the digest's date and issue name
(``2011-07-11-weekly-highlights``). Sending the same digest again finds the stored edition and resumes;
changing the content of an edition that has already reached someone is refused, because the list would
then have received two different versions under one Message-ID series.
"""

from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import json
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.delivery.ledger import Ledger
from newsletter.delivery.message import encode_text, format_address, single_line
from newsletter.delivery.personalise import MessageTemplate
from newsletter.edition.stored import Edition
from newsletter.errors import SendRefused
from subscribers.models import utcnow

if TYPE_CHECKING:  # a process that sends stored editions (a worker) never imports the renderer
    from newsletter.edition.digest import Digest
    from newsletter.edition.render import RenderedEdition, Renderer


def content_hash(rendered: RenderedEdition) -> str:
    parts = (rendered.subject, rendered.text, rendered.html)
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def unsaved_edition(rendered: RenderedEdition, key: str, edition_id: int = 0) -> Edition:
    """An Edition that is never stored: for previews and measurements of what a send would build."""
    return Edition(
        id=edition_id,
        key=key,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        digest_json="",
        content_hash=content_hash(rendered),
    )


@dataclasses.dataclass(frozen=True)
class PreparedEdition:
    edition: Edition
    template: MessageTemplate


def message_template(
    edition: Edition, digest_name: str, settings: Settings, date: str | None = None
) -> MessageTemplate:
    from_name, from_addr = email.utils.parseaddr(single_line(settings.from_address))
    list_id = settings.effective_list_id
    return MessageTemplate(
        subject=edition.subject,
        text=edition.text,
        html_body=edition.html,
        from_header=format_address(from_name, from_addr),
        list_id_header=f"{encode_text(digest_name, 'List-Id')} <{list_id}>",
        feedback_id=f"e{edition.id}:{list_id.replace(':', '')}:newsletter:{settings.from_domain}",
        date=date or email.utils.formatdate(usegmt=True),
    )


def prepare_edition(
    digest: Digest, renderer: Renderer, ledger: Ledger, settings: Settings
) -> PreparedEdition:
    if not settings.postal_address.strip():
        # CAN-SPAM and most EU member states require the sender's postal address in every message.
        raise SendRefused(
            "no postal address configured (NEWSLETTER_POSTAL_ADDRESS): every message must show "
            "the sender's postal address in its footer"
        )
    from newsletter.edition.digest import edition_key

    rendered = renderer.render_edition(digest, settings)
    key = edition_key(digest)
    digest_hash = content_hash(rendered)
    stored = ledger.find_edition(key)
    if stored is not None and stored.content_hash != digest_hash and ledger.has_deliveries(stored.id):
        raise SendRefused(
            f"edition {key} has already been sent to some subscribers with different content; "
            "finishing it with changed content would mail two versions. Resume it unchanged, or give the "
            "changed digest a new date or issue name to send it as a new edition."
        )
    edition = ledger.save_edition(
        key=key,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        digest_json=digest.model_dump_json(),
        content_hash=digest_hash,
    )
    return PreparedEdition(edition, message_template(edition, digest.newsletter, settings))


def stored_edition(edition: Edition, settings: Settings) -> PreparedEdition:
    """The MessageTemplate of an edition from its stored HTML and text: nothing is rendered again."""
    try:
        name = str(json.loads(edition.digest_json).get("newsletter", "")) or settings.effective_list_id
    except (ValueError, AttributeError):
        name = settings.effective_list_id
    date = email.utils.format_datetime(utcnow()) if edition.started_at is None else None
    return PreparedEdition(edition, message_template(edition, name, settings, date))
