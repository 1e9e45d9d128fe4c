"""The ledger's read of the confirmed list: one keyset query, in id order, with what each delivery owes."""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.ledger import LedgerResult, Shard
from newsletter.delivery.ledger_tables import DeliveryStatus
from newsletter.delivery.message import message_id
from newsletter.edition.digest import Digest
from subscribers import Consent, Status
from subscribers.models import utcnow
from tests.support.sending import prepared_edition


def test_the_confirmed_list_is_read_in_id_order_in_pages(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    store = database.store
    rows = [(f"r{i:03d}@example.org", f"R {i}") for i in range(25)]
    store.add_many(rows, status=Status.confirmed, consent=Consent("import:test"))
    pending = store.add("pending@example.org", status=Status.pending, consent=Consent("form"))
    edition = prepared_edition(database, settings, sample_digest).edition
    pages, after = [], 0
    while (page := database.ledger.pending_batch(edition.id, after, 10, utcnow())).read:
        pages.append(page)
        after = page.last_id
    assert [p.read for p in pages] == [10, 10, 5]
    ids = [r.id for p in pages for r in p.to_send]
    assert ids == sorted(ids) and len(ids) == 25 and pending.id not in ids
    halves = [
        database.ledger.pending_batch(edition.id, 0, 100, utcnow(), Shard(i, 2)).to_send for i in (0, 1)
    ]
    assert sorted(r.id for half in halves for r in half) == sorted(ids)


def test_a_settled_delivery_is_counted_not_sent_again(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    database.store.add_many(
        [("a@example.org", "A"), ("b@example.org", "B")], status=Status.confirmed, consent=Consent("t")
    )
    edition = prepared_edition(database, settings, sample_digest).edition
    first = database.ledger.pending_batch(edition.id, 0, 10, utcnow()).to_send
    sid = first[0].id
    ledger = database.ledger
    ledger.begin_attempts(edition.id, [(sid, message_id(edition.key, edition.id, sid, "example.org"))])
    ledger.record(edition.id, [LedgerResult(sid, DeliveryStatus.accepted, "p1")])
    again = ledger.pending_batch(edition.id, 0, 10, utcnow())
    assert (again.read, again.settled, [r.id for r in again.to_send]) == (2, 1, [first[1].id])
