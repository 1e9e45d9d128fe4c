"""What the send tests share: a confirmed list, a prepared edition, a Sender, and who the outbox reached."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.delivery.prepare import PreparedEdition, prepare_edition
from newsletter.delivery.send_loop import Sender
from newsletter.delivery.transports.base import Transport
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from subscribers import Consent, Status


def subscribe(database: Database, count: int) -> None:
    """``reader0@example.org`` … confirmed, named ``Reader 0`` …"""
    rows = [(f"reader{i}@example.org", f"Reader {i}") for i in range(count)]
    database.store.add_many(rows, status=Status.confirmed, consent=Consent("test"))


def prepared_edition(database: Database, settings: Settings, digest: Digest) -> PreparedEdition:
    return prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings)


def make_sender(database: Database, settings: Settings, transport: Transport, **kwargs: object) -> Sender:
    return Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        transport=transport,
        links=Links(settings),
        **kwargs,  # type: ignore[arg-type]
    )


def recipients_in(outbox: Path) -> list[str]:
    """The To address of every .eml in the folder, sorted."""
    out = []
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        out.append(message["To"].addresses[0].addr_spec)
    return sorted(out)
