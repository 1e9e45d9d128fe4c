"""One edition as a sample reader gets it: the rendered edition, its bodies filled in, and the .eml.

The sample goes through the same MessageTemplate as a real send, so sample.eml is byte for byte what a
subscriber would receive (with a sample name and an unsubscribe link marked as a preview). Preview and
preflight both start here, so what preflight measures is what the editor looks at.
"""

from __future__ import annotations

import dataclasses
import email.policy
from email import message_from_bytes

from newsletter.config import Settings
from newsletter.delivery.message import OutboundMessage, message_id
from newsletter.delivery.prepare import message_template, unsaved_edition
from newsletter.edition.digest import Digest, edition_key
from newsletter.edition.render import RenderedEdition, Renderer
from newsletter.edition.slots import PER_RECIPIENT_SLOTS, slot_marker

SAMPLE_NAME = "Sample Reader"
SAMPLE_EMAIL = "sample.reader@example.org"
PREVIEW_TOKEN = "preview-" + "x" * 35
"""As long as a real unsubscribe token (43 characters), so sizes measured on the sample are true."""


@dataclasses.dataclass(frozen=True)
class SampleEdition:
    rendered: RenderedEdition  # with slot markers, as stored
    html: str  # filled for the sample reader
    text: str
    eml: bytes
    key: str


def fill_sample(body: str, values: dict[str, str]) -> str:
    for name in PER_RECIPIENT_SLOTS:
        body = body.replace(slot_marker(name), values[name])
    return body


def sample_edition(
    settings: Settings, digest: Digest, renderer: Renderer | None = None, *, check: bool = True
) -> SampleEdition:
    """``check`` parses the .eml back, as a preview should; preflight (which reads the parts) skips it."""
    renderer = renderer or Renderer(settings.templates_dir)
    rendered = renderer.render_edition(digest, settings)
    key = edition_key(digest)
    unsubscribe = f"{settings.base_url.rstrip('/')}/u/{PREVIEW_TOKEN}"
    template = message_template(unsaved_edition(rendered, key), digest.newsletter, settings)
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
    if check:  # a preview that does not parse is a bug
        message_from_bytes(raw, policy=email.policy.default)
    values = {"name": SAMPLE_NAME, "unsubscribe_url": unsubscribe}
    return SampleEdition(
        rendered, fill_sample(rendered.html, values), fill_sample(rendered.text, values), raw, key
    )
