"""The send loop on the outbox: everyone confirmed gets exactly one message, a rerun resumes, nobody else."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.ledger_tables import DeliveryStatus
from newsletter.delivery.transports.outbox import OutboxTransport
from newsletter.edition.digest import Digest
from newsletter.errors import SendRefused, TransportError
from subscribers import Consent, Status
from subscribers.models import utcnow
from tests.support.scripted_transport import ScriptedTransport, crash_after
from tests.support.sending import make_sender, prepared_edition, recipients_in, subscribe


class Crash(Exception):
    pass


def crashing_outbox(outbox: OutboxTransport, after: int) -> ScriptedTransport:
    """Writes real files to the outbox, then a process death after ``after`` of them."""
    return ScriptedTransport(
        crash_after(after, Crash()), deliver=lambda message, raw: outbox.write(message.message_id, raw)
    )


def test_every_confirmed_subscriber_gets_one_message_and_nobody_else(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    settings = settings.replace(batch_size=7)
    subscribe(database, 30)
    store = database.store
    pending = store.add("pending@example.org", status=Status.pending, consent=Consent("form"))
    gone = store.add("gone@example.org", consent=Consent("cli"))
    store.unsubscribe(gone.id, Consent("one-click"))
    prepared = prepared_edition(database, settings, sample_digest)
    summary = make_sender(database, settings, OutboxTransport(settings.outbox_dir)).send(prepared)
    assert (summary.recipients, summary.accepted, summary.already_sent) == (30, 30, 0)
    received = recipients_in(settings.outbox_dir)
    assert received == sorted(f"reader{i}@example.org" for i in range(30))
    assert database.ledger.counts(prepared.edition.id)["accepted"] == 30
    assert pending.email not in received and gone.email not in received


def test_a_rerun_after_a_crash_sends_exactly_the_remaining_subscribers(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    settings = settings.replace(batch_size=10)
    subscribe(database, 45)
    prepared = prepared_edition(database, settings, sample_digest)
    crashing = crashing_outbox(OutboxTransport(settings.outbox_dir), 23)
    with pytest.raises(Crash):
        make_sender(database, settings, crashing).send(prepared)
    counts = database.ledger.counts(prepared.edition.id)
    assert counts["accepted"] == 20 and counts["sending"] == 10  # the batch in flight at the crash
    written_before = {p.name: p.read_bytes() for p in settings.outbox_dir.glob("*.eml")}
    assert len(written_before) == 23

    prepared = prepared_edition(database, settings, sample_digest)  # same digest: same edition, resumed
    summary = make_sender(database, settings, OutboxTransport(settings.outbox_dir)).send(prepared)
    assert (summary.already_sent, summary.accepted) == (20, 25)
    assert database.ledger.counts(prepared.edition.id) == {**counts, "accepted": 45, "sending": 0}
    assert recipients_in(settings.outbox_dir) == sorted(f"reader{i}@example.org" for i in range(45))
    for name, body in written_before.items():  # in-flight messages were rewritten with the same Message-ID
        after = (settings.outbox_dir / name).read_bytes()
        assert after.split(b"Date:")[0] == body.split(b"Date:")[0]

    third = make_sender(database, settings, OutboxTransport(settings.outbox_dir)).send(prepared)
    assert (third.already_sent, third.accepted) == (45, 0)


def test_a_subscriber_who_confirms_during_a_send_is_included(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    subscribe(database, 3)
    prepared = prepared_edition(database, settings, sample_digest)
    make_sender(database, settings, OutboxTransport(settings.outbox_dir)).send(prepared)
    late = database.store.add("late@example.org", consent=Consent("cli"))
    summary = make_sender(database, settings, OutboxTransport(settings.outbox_dir)).send(prepared)
    assert summary.accepted == 1
    assert database.ledger.pending_batch(prepared.edition.id, late.id - 1, 1, utcnow()).settled == 1


def test_changing_an_edition_that_reached_people_is_refused(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    subscribe(database, 2)
    prepared = prepared_edition(database, settings, sample_digest)
    make_sender(database, settings, OutboxTransport(settings.outbox_dir)).send(prepared)
    changed = sample_digest.model_copy(update={"preheader": "A different preheader"})
    with pytest.raises(SendRefused, match="already been sent"):
        prepared_edition(database, settings, changed)


def test_test_sends_do_not_count_as_the_real_delivery(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    subscribe(database, 2)
    prepared = prepared_edition(database, settings, sample_digest)
    results = make_sender(database, settings, OutboxTransport(settings.outbox_dir)).send_test(
        prepared, ["reader0@example.org", "editor@example.net"]
    )
    assert [r.outcome for r in results] == ["accepted", "accepted"]
    assert database.ledger.counts(prepared.edition.id)["accepted"] == 0
    assert recipients_in(settings.outbox_dir) == ["editor@example.net", "reader0@example.org"]
    summary = make_sender(database, settings, OutboxTransport(settings.outbox_dir)).send(prepared)
    assert summary.accepted == 2


def test_an_unwritable_outbox_stops_the_send_and_leaves_rows_to_resume(
    database: Database, settings: Settings, sample_digest: Digest, tmp_path: Path
) -> None:
    subscribe(database, 3)
    prepared = prepared_edition(database, settings, sample_digest)
    blocked = tmp_path / "blocked"
    transport = OutboxTransport(blocked)
    blocked.rmdir()
    blocked.write_text("a file where the folder should be")
    with pytest.raises(TransportError, match="cannot write to outbox"):
        make_sender(database, settings, transport).send(prepared)
    assert database.ledger.counts(prepared.edition.id)[DeliveryStatus.accepted] == 0
