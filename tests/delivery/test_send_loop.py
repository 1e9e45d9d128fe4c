"""The send loop's behaviour: retries and their limit, the error threshold, pause, cancel, rate, scheduling.

The scripted transport (tests/support: the real Transport base, outcomes decided per subscriber and
attempt) drives the loop on the real ledger (SQLite and PostgreSQL); the commands run through the real
Typer app.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from newsletter.cli.app import app
from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.ledger_tables import Delivery, DeliveryStatus, aware
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.prepare import PreparedEdition
from newsletter.delivery.send_run import StopReason
from newsletter.delivery.transports.base import Outcome, SendResult
from newsletter.edition.digest import Digest
from newsletter.edition.stored import Edition, EditionStatus
from newsletter.errors import NewsletterError, SendRefused
from subscribers import Consent, Status
from subscribers.models import utcnow
from tests.conftest import SAMPLE_DIGEST
from tests.support.scripted_transport import ScriptedTransport, accept
from tests.support.sending import make_sender, prepared_edition, subscribe
from tests.support.smtp_server import SmtpServer


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def setup(database: Database, settings: Settings, digest: Digest, count: int) -> PreparedEdition:
    subscribe(database, count)
    return prepared_edition(database, settings, digest)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.replace(batch_size=10, retry_delay=0.001, retry_max_delay=0.002, max_retries=3)


def rows(database: Database, edition_id: int) -> dict[int, Delivery]:
    with database.sessions() as session:
        return {
            d.subscriber_id: d
            for d in session.scalars(select(Delivery).where(Delivery.edition_id == edition_id))
        }


def test_temporary_failures_are_retried_until_accepted(
    database: Database, fast: Settings, sample_digest: Digest
) -> None:
    prepared = setup(database, fast, sample_digest, 25)

    def greylist(message: OutboundMessage, attempt: int) -> SendResult:
        if message.subscriber_id % 5 == 0 and attempt < 3:
            return SendResult(message.subscriber_id, Outcome.temporary, detail="451 greylisted", code=451)
        return accept(message, attempt)

    transport = ScriptedTransport(greylist)
    summary = make_sender(database, fast, transport).send(prepared)
    assert (summary.accepted, summary.retried, summary.failed, summary.status) == (25, 10, 0, "sent")
    ledger = rows(database, prepared.edition.id)
    assert {d.status for d in ledger.values()} == {DeliveryStatus.accepted}
    greylisted = [sid for sid in ledger if sid % 5 == 0]
    assert all(ledger[sid].attempts == 3 == transport.attempts[sid] for sid in greylisted)
    assert all(d.attempts == 1 for sid, d in ledger.items() if sid % 5)


def test_after_the_retry_limit_a_delivery_is_failed_with_its_last_error(
    database: Database, fast: Settings, sample_digest: Digest
) -> None:
    prepared = setup(database, fast, sample_digest, 12)

    def stuck(message: OutboundMessage, attempt: int) -> SendResult:
        if message.email == "reader3@example.org":
            return SendResult(
                message.subscriber_id, Outcome.temporary, detail=f"452 mailbox full ({attempt})"
            )
        return accept(message, attempt)

    transport = ScriptedTransport(stuck)
    summary = make_sender(database, fast, transport).send(prepared)
    assert (summary.accepted, summary.failed, summary.status) == (11, 1, "sent")
    failed = [d for d in rows(database, prepared.edition.id).values() if d.status is DeliveryStatus.failed]
    assert len(failed) == 1 and failed[0].attempts == 4 == fast.max_retries + 1
    assert failed[0].last_error == "gave up after 4 attempts; last error: 452 mailbox full (4)"


def test_a_bounce_is_recorded_before_the_hook_hears_of_it(
    database: Database, fast: Settings, sample_digest: Digest
) -> None:
    prepared = setup(database, fast, sample_digest, 5)
    seen: list[tuple[int, str]] = []

    def hook(edition_id: int, result: SendResult) -> None:
        status = rows(database, edition_id)[result.subscriber_id].status
        seen.append((result.subscriber_id, str(status)))

    def refuse_two(message: OutboundMessage, attempt: int) -> SendResult:
        if message.email == "reader2@example.org":
            return SendResult(
                message.subscriber_id, Outcome.permanent, detail="550 5.1.1 no such user", code=550
            )
        return accept(message, attempt)

    summary = make_sender(database, fast, ScriptedTransport(refuse_two), on_permanent=hook).send(prepared)
    assert summary.bounced == 1 and len(seen) == 1 and seen[0][1] == "bounced"


def test_a_servers_retry_after_sets_the_next_attempt(
    database: Database, fast: Settings, sample_digest: Digest
) -> None:
    prepared = setup(database, fast, sample_digest, 3)
    edition_id = prepared.edition.id

    def later(message: OutboundMessage, attempt: int) -> SendResult:
        return SendResult(message.subscriber_id, Outcome.temporary, detail="421 slow down", retry_after=3600)

    def pause_while_waiting(seconds: float) -> None:  # the operator pauses while the loop waits
        database.ledger.transition_edition(edition_id, (EditionStatus.sending,), EditionStatus.paused)

    before = utcnow()
    summary = make_sender(database, fast, ScriptedTransport(later), sleep=pause_while_waiting).send(prepared)
    assert summary.stop is not None and summary.stop.reason is StopReason.paused
    assert summary.stopped.startswith("paused") and summary.status == "paused"
    for delivery in rows(database, edition_id).values():
        assert delivery.status is DeliveryStatus.deferred and delivery.next_attempt_at is not None
        assert aware(delivery.next_attempt_at) >= before + dt.timedelta(seconds=3600)
    # A resume does not send early: those deliveries wait in the ledger, not in the main pass.
    again = make_sender(database, fast, ScriptedTransport(), sleep=pause_while_waiting).send(prepared)
    assert again.accepted == 0 and again.recipients == 3


def test_the_error_threshold_pauses_the_send_with_a_reason(
    database: Database, fast: Settings, sample_digest: Digest
) -> None:
    settings = fast.replace(error_threshold=0.5, error_window=20, batch_size=200)
    prepared = setup(database, settings, sample_digest, 200)

    def blocked(message: OutboundMessage, attempt: int) -> SendResult:
        return SendResult(message.subscriber_id, Outcome.temporary, detail="421 4.7.0 IP blocklisted")

    transport = ScriptedTransport(blocked)
    summary = make_sender(database, settings, transport).send(prepared)
    assert summary.stop is not None and summary.stop.reason is StopReason.threshold
    assert summary.status == "paused" and "error threshold reached" in summary.stopped
    assert "IP blocklisted" in summary.stopped
    assert transport.tried <= transport.window  # within the first hand-over, not the whole list
    counts = database.ledger.counts(prepared.edition.id)
    assert counts[DeliveryStatus.failed] == counts[DeliveryStatus.accepted] == 0


def test_pause_stops_the_loop_and_a_resume_sends_only_the_rest(
    database: Database, fast: Settings, sample_digest: Digest
) -> None:
    prepared = setup(database, fast, sample_digest, 50)
    edition_id = prepared.edition.id

    def pause_after_five(sent: int) -> None:
        if sent == 5:
            database.ledger.transition_edition(edition_id, (EditionStatus.sending,), EditionStatus.paused)

    first = ScriptedTransport(after_each=pause_after_five)
    summary = make_sender(database, fast, first).send(prepared)
    assert summary.stop is not None and summary.stop.reason is StopReason.paused
    assert summary.status == "paused" and summary.stopped == "paused by `newsletter pause`"
    assert summary.as_dict()["stopped"] == "paused by `newsletter pause`"  # what --json shows
    assert 5 <= summary.accepted < 50
    second = ScriptedTransport()
    resumed = make_sender(database, fast, second).send(prepared)
    assert resumed.status == "sent" and resumed.already_sent == summary.accepted
    assert set(first.attempts) | set(second.attempts) == set(rows(database, edition_id))
    assert not set(first.attempts) & set(second.attempts)  # nobody twice
    assert database.ledger.counts(edition_id)[DeliveryStatus.accepted] == 50


def test_a_cancelled_send_stops_and_can_never_resume(
    database: Database, fast: Settings, sample_digest: Digest
) -> None:
    prepared = setup(database, fast, sample_digest, 30)
    edition_id = prepared.edition.id

    def cancel(sent: int) -> None:
        if sent == 3:
            database.ledger.transition_edition(edition_id, (EditionStatus.sending,), EditionStatus.cancelled)

    summary = make_sender(database, fast, ScriptedTransport(after_each=cancel)).send(prepared)
    assert summary.stop is not None and summary.stop.reason is StopReason.cancelled
    assert summary.status == "cancelled" and summary.stopped == "cancelled"
    with pytest.raises(SendRefused, match="cancelled"):
        make_sender(database, fast, ScriptedTransport()).send(prepared)


def test_the_rate_limit_spaces_out_messages(
    database: Database, fast: Settings, sample_digest: Digest
) -> None:
    settings = fast.replace(send_rate=10.0)
    prepared = setup(database, settings, sample_digest, 30)
    sleeps = Sleeps()
    make_sender(database, settings, ScriptedTransport(), sleep=sleeps).send(prepared)
    assert len(sleeps) == 20  # a burst of 10 (one second's worth), then each message waits for its token
    assert 1.0 < max(sleeps) <= 2.0  # the 30th message is due 2 s after the start (fake sleeps do not pass)


# -- the commands -----------------------------------------------------------------------------------------


def invoke(settings: Settings, tmp_path: Path, *args: str, **more: str) -> tuple[int, str]:
    env = {
        f"NEWSLETTER_{k.upper()}": str(v)
        for k, v in {
            "database_url": settings.database_url,
            "secret_key": settings.secret_key,
            "from_address": settings.from_address,
            "postal_address": settings.postal_address,
            "transport": "outbox",
            "outbox_dir": tmp_path / "outbox",
            "config": tmp_path / "none.toml",
            **more,
        }.items()
    }
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, (NewsletterError, SystemExit)):
        raise result.exception
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def test_scheduled_sends_wait_for_run_due(database: Database, settings: Settings, tmp_path: Path) -> None:
    database.store.add_many(
        [("a@example.org", "A"), ("b@example.org", "B")], status=Status.confirmed, consent=Consent("test")
    )
    code, output = invoke(
        settings, tmp_path, "send", str(SAMPLE_DIGEST), "--at", "2099-12-01 07:00", "--json"
    )
    assert code == 0, output
    assert '"scheduled_at": "2099-12-01' in output
    code, output = invoke(settings, tmp_path, "send", str(SAMPLE_DIGEST), "--at", "2001-01-01 07:00")
    assert code == 1 and "in the past" in output
    assert invoke(settings, tmp_path, "run-due")[1].strip().endswith("no scheduled send is due")
    with database.sessions.begin() as session:  # time passes
        session.execute(update(Edition).values(scheduled_at=utcnow() - dt.timedelta(minutes=1)))
    code, output = invoke(settings, tmp_path, "run-due", "--json")
    assert code == 0 and '"accepted": 2' in output and '"status": "sent"' in output
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    assert "no scheduled send is due" in invoke(settings, tmp_path, "run-due")[1]  # sent once, not again


def test_pause_resume_and_cancel_from_the_command_line(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    database.store.add_many([("a@example.org", "A")], status=Status.confirmed, consent=Consent("test"))
    key = "2011-07-11-weekly-highlights"
    assert invoke(settings, tmp_path, "pause", key)[0] == 1  # no such edition yet
    assert invoke(settings, tmp_path, "send", str(SAMPLE_DIGEST), "--at", "2099-01-01 00:00")[0] == 0
    code, output = invoke(settings, tmp_path, "pause", key)
    assert code == 0 and "paused" in output
    code, output = invoke(settings, tmp_path, "send", str(SAMPLE_DIGEST), "--yes")
    assert code == 1 and "--resume" in output
    code, output = invoke(settings, tmp_path, "send", str(SAMPLE_DIGEST), "--yes", "--resume", "--json")
    assert code == 0 and '"accepted": 1' in output
    code, output = invoke(settings, tmp_path, "cancel", key, "--yes")
    assert code == 1 and "nothing to cancel" in output  # sent editions stay sent


def test_cancel_refuses_later_sends(database: Database, settings: Settings, tmp_path: Path) -> None:
    assert invoke(settings, tmp_path, "send", str(SAMPLE_DIGEST), "--at", "2099-01-01 00:00")[0] == 0
    code, output = invoke(settings, tmp_path, "cancel", "2011-07-11-weekly-highlights", "--yes")
    assert code == 0 and "cancelled" in output
    code, output = invoke(settings, tmp_path, "send", str(SAMPLE_DIGEST), "--yes", "--resume")
    assert code == 1 and "was cancelled" in output


def test_a_transport_failure_pauses_and_says_how_to_resume(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    database.store.add_many([("a@example.org", "A")], status=Status.confirmed, consent=Consent("test"))
    with SmtpServer() as server:
        url = server.url  # closed again: nothing listens there now
    code, output = invoke(
        settings,
        tmp_path,
        "send",
        str(SAMPLE_DIGEST),
        "--yes",
        transport="smtp",
        smtp_url=url,
        max_retries="0",
    )
    assert code == 1 and "cannot reach the SMTP server" in output
    assert "The send is paused and nothing is lost" in output and "--resume" in output
    code, output = invoke(settings, tmp_path, "send", str(SAMPLE_DIGEST), "--yes", "--resume", "--json")
    assert code == 0 and '"accepted": 1' in output  # resumed, here through the outbox
