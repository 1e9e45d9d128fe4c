"""The transport base class: a transport that writes only ``send`` still streams, in window-sized groups."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.send_loop import outbound_message
from newsletter.delivery.transports import open_transport
from newsletter.delivery.transports.base import DEFAULT_WINDOW, Outcome, Transport
from newsletter.delivery.transports.outbox import OutboxTransport
from newsletter.edition.digest import Digest
from subscribers.models import utcnow
from tests.support.sending import prepared_edition, recipients_in, subscribe


def test_the_feed_is_pulled_one_window_at_a_time(
    database: Database, settings: Settings, sample_digest: Digest, tmp_path: Path
) -> None:
    subscribe(database, 150)
    prepared = prepared_edition(database, settings, sample_digest)
    edition, links = prepared.edition, Links(settings)
    batch = database.ledger.pending_batch(edition.id, 0, 150, utcnow())
    messages = [
        outbound_message(links, settings.from_domain, edition.key, edition.id, r) for r in batch.to_send
    ]
    pulled = 0

    def feed() -> Iterator[OutboundMessage]:
        nonlocal pulled
        for message in messages:
            pulled += 1
            yield message

    with OutboxTransport(tmp_path / "out") as transport:
        results = transport.send_iter(prepared.template, feed())
        first = next(results)
        assert pulled == transport.window == DEFAULT_WINDOW  # a stopped feed stops the transport early
        rest = list(results)
    assert [r.outcome for r in [first, *rest]] == [Outcome.accepted] * 150
    assert len(recipients_in(tmp_path / "out")) == 150


def test_every_configured_transport_is_behind_the_one_interface(settings: Settings, tmp_path: Path) -> None:
    for name in ("outbox", "discard"):
        transport = open_transport(settings.replace(transport=name, outbox_dir=tmp_path))
        assert isinstance(transport, Transport) and transport.name == name and transport.batch_hint == 0
