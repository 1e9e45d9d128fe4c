"""Per-edition statistics and one address's history, from the ledger, the feedback and the evidence."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.edition.digest import Digest
from newsletter.feedback.apply import FeedbackPolicy
from newsletter.feedback.events import FeedbackEvent, FeedbackKind
from newsletter.feedback.stats import edition_stats, history, recipients
from subscribers import Consent
from tests.conftest import ROOT
from tests.support.cli import run
from tests.support.feedback_helpers import dsn, send_outbox, subscribe

READERS = (
    "a@example.com",
    "b@example.com",
    "c@example.com",
    "d@example.com",
    "e@example.com",
    "f@example.com",
)


def test_stats_count_each_outcome_once(database: Database, settings: Settings, sample_digest: Digest) -> None:
    ids = subscribe(database, *READERS)
    edition_id, _ = send_outbox(database, settings, sample_digest)
    policy = FeedbackPolicy(database.sessions, settings)

    def apply(kind: FeedbackKind, email: str, key: str) -> None:
        policy.apply(
            FeedbackEvent(
                kind=kind, source="test", dedupe_key=key, subscriber_id=ids[email], edition_id=edition_id
            )
        )

    apply(FeedbackKind.hard_bounce, "a@example.com", "1")
    apply(FeedbackKind.soft_bounce, "a@example.com", "2")  # already counted hard
    apply(FeedbackKind.soft_bounce, "b@example.com", "3")
    apply(FeedbackKind.complaint, "c@example.com", "4")
    apply(FeedbackKind.unsubscribe, "d@example.com", "5")
    database.store.unsubscribe(ids["e@example.com"], Consent("one-click"))  # after the edition, by the link
    edition = database.ledger.get_edition(edition_id)
    assert edition is not None
    stats = edition_stats(database.sessions, edition)
    assert stats["sent"] == 6 and stats["delivered"] == 4
    assert stats["bounced"] == {"hard": 1, "soft": 1, "at_send": 0}
    assert (stats["complained"], stats["unsubscribed"]) == (1, 2)
    who = {row["email"]: row for row in recipients(database.sessions, edition_id, batch=4)}
    assert set(who) == set(READERS)
    assert who["a@example.com"]["feedback"] == ["hard_bounce", "soft_bounce"]
    assert who["f@example.com"] == {**who["f@example.com"], "delivery": "accepted", "feedback": []}

    story = history(database.sessions, "a@example.com")
    assert story is not None and story["status"] == "bounced"
    bounced = [e for e in story["events"] if e["kind"] == "bounced"]
    assert bounced and json.loads(bounced[0]["detail"])["decision"].startswith("hard bounce")
    assert [d["status"] for d in story["deliveries"]] == ["accepted"]
    assert history(database.sessions, "nobody@example.com") is None


def test_the_commands(tmp_path: Path) -> None:
    assert run(tmp_path, "init", "--demo", "3").returncode == 0
    sent = run(
        tmp_path, "send", str(ROOT / "samples" / "2011-07-11-weekly-highlights.yaml"), "--yes", "--json"
    )
    assert sent.returncode == 0, sent.stderr
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    box.add(dsn(to="bounces@example.org", recipient="reader1@example.org"))  # envelope lost, no original
    box.close()
    processed = run(tmp_path, "bounces", "process", "--maildir", str(tmp_path / "bounces"), "--json")
    assert processed.returncode == 0, processed.stderr
    assert json.loads(processed.stdout.splitlines()[-1])["kept"] == 1

    stats = run(tmp_path, "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    [row] = json.loads(stats.stdout)
    assert row["sent"] == 3 and row["delivered"] == 3
    who = run(tmp_path, "stats", row["edition"], "--recipients")
    assert who.returncode == 0 and who.stdout.count("accepted") == 3
    show = run(tmp_path, "subscribers", "show", "reader1@example.org")
    assert show.returncode == 0 and "confirmed" in show.stdout and "delivery" in show.stdout
    missing = run(tmp_path, "subscribers", "show", "nobody@example.org")
    assert (
        missing.returncode == 1 and "not on the list" in missing.stderr and "Traceback" not in missing.stderr
    )
    unknown = run(tmp_path, "stats", "no-such-edition")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr

    classify = run(
        tmp_path,
        "bounces",
        "classify",
        "--json",
        str(ROOT / "tests/fixtures/corpora/bounce_email/bounces/tt_bounce_01.txt"),
        str(ROOT / "tests/fixtures/corpora/bounce_email/non_bounces/tt_1234210666.txt"),
    )
    lines = [json.loads(line) for line in classify.stdout.splitlines()]
    assert [(x["kind"], x["status"], x["reason"]) for x in lines] == [
        ("hard", "5.1.2", "hostunknown"),
        ("not-a-bounce", "", ""),
    ]
    assert lines[0]["fault"] == "recipient" and lines[0]["action"] == "suppress"
    assert set(lines[0]) == {"file", "recipient", "status", "reason", "kind", "fault", "action", "detail"}
