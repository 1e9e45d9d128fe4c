"""The subscriber store on SQLite and PostgreSQL: lifecycle, evidence, deduplication, streaming."""

from __future__ import annotations

import pytest

from newsletter.database import Database
from subscribers import Consent, ConsentKind, Status
from subscribers.errors import InvalidAddress, TransitionRefused, UnknownSubscriber

OPERATOR = Consent(source="cli")


def test_addresses_are_deduplicated_by_their_normalised_form(database: Database) -> None:
    store = database.store
    store.add("Ann.Lee@Example.ORG", "Ann", consent=OPERATOR)
    with pytest.raises(TransitionRefused, match="already on the list"):
        store.add("  ann.lee@example.org ", consent=OPERATOR)
    assert store.count_by_status()["confirmed"] == 1
    assert store.find("ANN.LEE@example.org") is not None


def test_invalid_addresses_are_refused_with_a_reason(database: Database) -> None:
    for bad in ["", "no-at-sign", "a@b@c.org", "x@localhost", "a\r\nBcc: victim@x.org@example.org"]:
        with pytest.raises(InvalidAddress) as caught:
            database.store.add(bad, consent=OPERATOR)
        assert str(caught.value)
    assert sum(database.store.count_by_status().values()) == 0


def test_every_change_of_state_leaves_evidence(database: Database) -> None:
    store = database.store
    subscriber = store.add(
        "reader@example.org",
        status=Status.pending,
        consent=Consent("form", ip="192.0.2.7", user_agent="Firefox"),
    )
    assert store.confirm(subscriber.id, Consent("link", ip="192.0.2.7")) is True
    assert store.confirm(subscriber.id, Consent("link")) is False  # twice is harmless
    assert store.unsubscribe(subscriber.id, Consent("one-click")) is True
    kinds = [e.kind for e in store.events(subscriber.id)]
    assert kinds == [ConsentKind.added, ConsentKind.confirmed, ConsentKind.unsubscribed]
    first = store.events(subscriber.id)[0]
    assert (first.ip, first.user_agent, first.source) == ("192.0.2.7", "Firefox", "form")


def test_suppressed_addresses_need_fresh_consent_before_mail(database: Database) -> None:
    store = database.store
    subscriber = store.add("gone@example.org", consent=OPERATOR)
    store.unsubscribe(subscriber.id, OPERATOR)
    with pytest.raises(TransitionRefused):
        store.confirm(subscriber.id, OPERATOR)  # unsubscribed -> confirmed skips the opt-in
    assert store.transition(subscriber.id, Status.pending, Consent("form")) is True
    assert store.confirm(subscriber.id, Consent("link")) is True


def test_consent_events_cannot_be_edited(database: Database) -> None:
    subscriber = database.store.add("evidence@example.org", consent=OPERATOR)
    with database.sessions() as session:
        event = database.store.events(subscriber.id)[0]
        event = session.merge(event)
        event.source = "forged"
        with pytest.raises(RuntimeError, match="append-only"):
            session.flush()


def test_unknown_subscribers_are_reported(database: Database) -> None:
    with pytest.raises(UnknownSubscriber):
        database.store.confirm(999_999, OPERATOR)


def test_confirmed_subscribers_are_counted_and_never_added_twice(database: Database) -> None:
    store = database.store
    rows = [(f"r{i:03d}@example.org", f"R {i}") for i in range(25)]
    assert store.add_many(rows, status=Status.confirmed, consent=Consent("import:test")) == 25
    store.add("pending@example.org", status=Status.pending, consent=OPERATOR)
    assert store.count_confirmed() == 25
    assert store.add_many(rows[:5], status=Status.confirmed, consent=Consent("import:test")) == 0


def test_names_lose_control_characters(database: Database) -> None:
    subscriber = database.store.add("n@example.org", "Eve\r\nBcc: all@example.org\x00", consent=OPERATOR)
    assert subscriber.name == "Eve Bcc: all@example.org"


def test_unsubscribing_after_a_complaint_keeps_the_complaint_and_the_evidence(database: Database) -> None:
    store = database.store
    subscriber = store.add("angry@example.org", consent=OPERATOR)
    store.transition(subscriber.id, Status.complained, Consent("arf"))
    assert store.unsubscribe(subscriber.id, Consent("one-click", ip="192.0.2.9")) is False
    assert store.get(subscriber.id).status is Status.complained
    assert [e.kind for e in store.events(subscriber.id)][-1] == ConsentKind.unsubscribed
