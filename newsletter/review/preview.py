"""Previews an editor can open before pressing send: the edition as a sample reader sees it, and the .eml.

The preview goes through the same MessageTemplate as a real send, so sample.eml is byte for byte what a
subscriber would receive (with a sample name and an unsubscribe link that is marked as a preview).
"""

from __future__ import annotations

import email.policy
from email import message_from_bytes
from pathlib import Path

from newsletter.config import Settings
from newsletter.delivery.message import OutboundMessage, message_id
from newsletter.delivery.prepare import edition_key, message_template, unsaved_edition
from newsletter.edition.digest import load_digest
from newsletter.edition.render import PER_RECIPIENT_SLOTS, Renderer, slot_marker

SAMPLE_NAME = "Sample Reader"
SAMPLE_EMAIL = "sample.reader@example.org"


def fill_sample(body: str, values: dict[str, str]) -> str:
    for name in PER_RECIPIENT_SLOTS:
        body = body.replace(slot_marker(name), values[name])
    return body


def write_preview(settings: Settings, digest_path: Path, out: Path) -> list[Path]:
    digest = load_digest(digest_path)
    rendered = Renderer(settings.templates_dir).render_edition(digest, settings)
    key = edition_key(digest)
    unsubscribe = f"{settings.base_url.rstrip('/')}/u/preview"
    edition = unsaved_edition(rendered, key)
    template = message_template(edition, digest.newsletter, settings)
    sample = OutboundMessage(
        subscriber_id=0,
        email=SAMPLE_EMAIL,
        name=SAMPLE_NAME,
        message_id=message_id(key + ".preview", 0, 0, settings.from_domain),
        envelope_from=settings.effective_bounce_address,
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=f"mailto:{settings.effective_unsubscribe_mailto}?subject=unsubscribe",
        ref="preview",
    )
    raw = template.build(sample)
    message_from_bytes(raw, policy=email.policy.default)  # parse once: a preview that does not parse is a bug
    out.mkdir(parents=True, exist_ok=True)
    values = {"name": SAMPLE_NAME, "unsubscribe_url": unsubscribe}
    paths = [out / "edition.html", out / "edition.txt", out / "sample.eml"]
    paths[0].write_text(fill_sample(rendered.html, values), encoding="utf-8")
    paths[1].write_text(fill_sample(rendered.text, values), encoding="utf-8")
    paths[2].write_bytes(raw)
    return paths
