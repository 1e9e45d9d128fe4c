"""Running or crashed, and retries that wait in the ledger: what `send` and `run-due` say and do.

Real subprocesses of the `newsletter` command over SQLite and PostgreSQL; "another machine" is a lease
row naming another host, exactly what a send elsewhere writes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import update

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.leases import Leases
from newsletter.delivery.ledger_tables import DELIVERIES
from newsletter.edition.digest import Digest
from newsletter.edition.stored import EditionStatus
from tests.conftest import SAMPLE_DIGEST
from tests.support.cli import run
from tests.support.sending import prepared_edition, subscribe
from tests.support.smtp_server import Faults, SmtpServer

ELSEWHERE = "mailer-2.example.net pid 4242"


def _env(settings: Settings, tmp_path: Path, **more: object) -> dict[str, str]:
    values = {
        "database_url": settings.database_url,
        "secret_key": settings.secret_key,
        "from_address": settings.from_address,
        "postal_address": settings.postal_address,
        "outbox_dir": tmp_path / "outbox",
        "config": tmp_path / "none.toml",
        **more,
    }
    return {f"NEWSLETTER_{k.upper()}": str(v) for k, v in values.items()}


def test_a_send_running_elsewhere_is_named_and_not_started_twice(
    database: Database, settings: Settings, sample_digest: Digest, tmp_path: Path
) -> None:
    subscribe(database, 5)
    edition = prepared_edition(database, settings, sample_digest).edition
    database.ledger.transition_edition(edition.id, (EditionStatus.draft,), EditionStatus.sending)
    Leases(database.sessions, 30).acquire(edition.id, ELSEWHERE)
    for extra in ([], ["--resume"]):
        result = run(tmp_path, "send", str(SAMPLE_DIGEST), "--yes", *extra, env=_env(settings, tmp_path))
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert f"is running elsewhere: on {ELSEWHERE} (lease renewed" in result.stderr
    assert not (tmp_path / "outbox").exists()


def test_an_expired_lease_is_a_crash_that_resume_and_run_due_continue(
    database: Database, settings: Settings, sample_digest: Digest, tmp_path: Path
) -> None:
    subscribe(database, 5)
    edition = prepared_edition(database, settings, sample_digest).edition
    database.ledger.transition_edition(edition.id, (EditionStatus.draft,), EditionStatus.sending)
    Leases(database.sessions, -1).acquire(edition.id, ELSEWHERE)  # taken, and already run out
    env = _env(settings, tmp_path)
    refused = run(tmp_path, "send", str(SAMPLE_DIGEST), "--yes", env=env)
    assert refused.returncode == 1
    assert f"was interrupted ({ELSEWHERE} stopped renewing its lease at" in refused.stderr
    assert "it crashed or was killed" in refused.stderr and "--resume" in refused.stderr
    resumed = run(tmp_path, "run-due", "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["accepted"] == 5
    assert database.ledger.edition_status(edition.id) is EditionStatus.sent
    assert Leases(database.sessions, 30).current(edition.id) is None  # released at the end


def test_retries_wait_in_the_ledger_and_run_due_sends_them_when_due(
    database: Database, settings: Settings, sample_digest: Digest, tmp_path: Path
) -> None:
    subscribe(database, 20)
    greylisted = {"reader3@example.org", "reader7@example.org"}
    faults = Faults(always_temporary=lambda address: address in greylisted)
    with SmtpServer(faults) as server:
        env = _env(settings, tmp_path, transport="smtp", smtp_url=server.url, retry_delay=600)
        first = run(tmp_path, "send", str(SAMPLE_DIGEST), "--yes", "--json", env=env)
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        assert (summary["accepted"], summary["deferred"], summary["status"]) == (18, 2, "sending")
        assert summary["next_retry_at"] is not None
        assert "deferred: 2, next retry at" in first.stderr  # the command ended: nobody slept for 600 s
        again = run(tmp_path, "send", str(SAMPLE_DIGEST), "--yes", env=env)
        assert "2 deliveries wait for a retry, the next at" in again.stderr
        idle = run(tmp_path, "run-due", "--json", env=env)
        assert idle.returncode == 0 and idle.stdout == ""  # not due yet: nothing sent
        greylisted.clear()  # the server takes them now
        with database.sessions.begin() as session:  # ... and their time has come
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            session.execute(
                update(DELIVERIES).values(next_attempt_at=past).where(DELIVERIES.c.status == "deferred")
            )
        later = run(tmp_path, "run-due", "--json", env=env)
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout.splitlines()[-1])["accepted"] == 2
    edition = database.ledger.find_edition(summary["edition"])
    assert edition is not None and database.ledger.edition_status(edition.id) is EditionStatus.sent
    assert database.ledger.counts(edition.id)["accepted"] == 20
