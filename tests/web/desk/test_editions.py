"""Editions on the desk without a browser: uploads checked, the folder listing, tests, scheduling, and a
send that runs in its own process, so stopping the web app does not stop it."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.edition.stored import EditionStatus
from newsletter.web.desk.runner import SendRunner, settings_environment
from tests.conftest import SAMPLE_DIGEST
from tests.support.desk_helpers import add_readers, desk_csrf, desk_settings, signed_in_client
from tests.support.polling import wait_for
from tests.support.web_helpers import outbox

EDITION = "2011-07-11-weekly-highlights"


@pytest.fixture
def desk_config(settings: Settings, tmp_path: Path) -> Settings:
    return desk_settings(settings, tmp_path)


def upload(client: object, name: str, content: bytes, csrf: str) -> object:
    return client.post("/desk/editions/upload", files={"digest": (name, content)}, data={"csrf": csrf})  # type: ignore[attr-defined]


def test_an_upload_with_problems_names_each_and_stores_nothing(
    desk_config: Settings, database: Database
) -> None:
    client = signed_in_client(desk_config, database)
    csrf = desk_csrf(client)
    broken = SAMPLE_DIGEST.read_text().replace("date: '2011-07-11'", "date: '2011-13-45'")
    response = upload(client, "this-week.yaml", broken.encode(), csrf)
    assert response.status_code == 422
    assert "this-week.yaml: 1 problem(s) in the digest" in response.text and "date" in response.text
    assert ".upload-" not in response.text  # the staging file's name never shows
    assert database.ledger.editions() == []
    assert [p.name for p in desk_config.digests_dir.iterdir()] == []  # nothing left behind
    for name, content, status in (
        ("notes.txt", b"hello", 422),
        ("big.yaml", b"x" * 5_000_001, 413),
        ("bin.yaml", b"\x00\xff\xfe", 422),
    ):
        assert upload(client, name, content, csrf).status_code == status, name


def test_an_upload_is_kept_in_the_digests_folder_and_rendered_once(
    desk_config: Settings, database: Database
) -> None:
    client = signed_in_client(desk_config, database)
    response = upload(client, "../../etc/evil.yaml", SAMPLE_DIGEST.read_bytes(), desk_csrf(client))
    assert response.status_code == 303 and response.headers["location"] == f"/desk/editions/{EDITION}"
    assert [p.name for p in desk_config.digests_dir.iterdir()] == [f"{EDITION}.yaml"]
    edition = database.ledger.find_edition(EDITION)
    assert edition is not None and edition.status is EditionStatus.draft
    page = client.get(f"/desk/editions/{EDITION}")
    assert "Sample Reader" in page.text and "SpamAssassin content score" in page.text  # preflight ran
    preview = client.get(f"/desk/editions/{EDITION}/preview.html")
    assert preview.text.startswith("<!doctype html>") or preview.text.lower().startswith("<!doctype html>")
    assert "__nl_slot" not in preview.text and "Sample Reader" in preview.text


def test_a_digest_is_picked_only_from_the_folders_listing(desk_config: Settings, database: Database) -> None:
    desk_config.digests_dir.mkdir(parents=True)
    shutil.copy(SAMPLE_DIGEST, desk_config.digests_dir / "week.yaml")
    client = signed_in_client(desk_config, database)
    home = client.get("/desk/")
    assert "week.yaml" in home.text
    csrf = desk_csrf(client)
    for name in ("../newsletter.db", str(SAMPLE_DIGEST), "missing.yaml"):
        assert client.post("/desk/editions/open", data={"csrf": csrf, "name": name}).status_code == 404
    opened = client.post("/desk/editions/open", data={"csrf": csrf, "name": "week.yaml"})
    assert opened.status_code == 303 and database.ledger.find_edition(EDITION) is not None


def test_a_test_send_goes_only_to_the_given_addresses(desk_config: Settings, database: Database) -> None:
    add_readers(database, 3)
    client = signed_in_client(desk_config, database)
    csrf = desk_csrf(client)
    upload(client, "w.yaml", SAMPLE_DIGEST.read_bytes(), csrf)
    bad = client.post(f"/desk/editions/{EDITION}/test", data={"csrf": csrf, "addresses": "not an address"})
    assert bad.status_code == 422
    many = ",".join(f"t{i}@example.net" for i in range(6))
    assert (
        client.post(f"/desk/editions/{EDITION}/test", data={"csrf": csrf, "addresses": many}).status_code
        == 422
    )
    sent = client.post(f"/desk/editions/{EDITION}/test", data={"csrf": csrf, "addresses": "me@example.net"})
    assert sent.status_code == 200 and "me@example.net: <strong>accepted</strong>" in sent.text
    [message] = outbox(desk_config)
    assert b"To: me@example.net" in message.read_bytes()
    edition = database.ledger.find_edition(EDITION)
    assert edition is not None and sum(database.ledger.counts(edition.id).values()) == 0


def test_scheduling_needs_a_time_to_come(desk_config: Settings, database: Database) -> None:
    client = signed_in_client(desk_config, database)
    csrf = desk_csrf(client)
    upload(client, "w.yaml", SAMPLE_DIGEST.read_bytes(), csrf)
    for value in ("", "tomorrow", "2001-01-01T07:00"):
        response = client.post(f"/desk/editions/{EDITION}/schedule", data={"csrf": csrf, "at": value})
        assert response.status_code == 422, value
    later = (dt.datetime.now().astimezone() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert (
        client.post(f"/desk/editions/{EDITION}/schedule", data={"csrf": csrf, "at": later}).status_code == 303
    )
    edition = database.ledger.find_edition(EDITION)
    assert edition is not None and edition.scheduled_at is not None
    assert database.ledger.due_editions(dt.datetime.now(dt.UTC) + dt.timedelta(days=2))[0].key == EDITION


def test_send_now_asks_with_the_count_and_runs_outside_the_web_app(
    desk_config: Settings, database: Database
) -> None:
    add_readers(database, 40)
    client = signed_in_client(desk_config, database)
    csrf = desk_csrf(client)
    upload(client, "w.yaml", SAMPLE_DIGEST.read_bytes(), csrf)
    confirm = client.get(f"/desk/editions/{EDITION}/send")
    assert "Send to 40 subscribers?" in confirm.text
    assert re.search(r'name="recipients" value="40"', confirm.text)
    stale = client.post(f"/desk/editions/{EDITION}/send", data={"csrf": csrf, "recipients": "39"})
    assert stale.status_code == 409 and "changed" in stale.text  # the list moved: ask again
    started = client.post(f"/desk/editions/{EDITION}/send", data={"csrf": csrf, "recipients": "40"})
    assert started.status_code == 303
    twice = client.post(f"/desk/editions/{EDITION}/send", data={"csrf": csrf, "recipients": "40"})
    assert twice.status_code == 409
    client.close()  # the web app (and its lifespan) ends; the send does not
    edition = database.ledger.find_edition(EDITION)
    assert edition is not None
    wait_for(
        lambda: database.ledger.edition_status(edition.id) is EditionStatus.sent, what="the send to finish"
    )
    assert database.ledger.counts(edition.id)["accepted"] == 40
    assert len(outbox(desk_config)) == 40
    # The ledger says sent before the process prints its summary; its lock goes when it has ended.
    wait_for(lambda: not SendRunner(desk_config).running(EDITION), what="the send's process to end")
    log = (desk_config.desk_log_dir / f"{EDITION}.log").read_text()
    assert '"accepted": 40' in log


def test_progress_reads_the_ledger_for_a_send_started_in_a_terminal_with_workers(
    desk_config: Settings, database: Database, tmp_path: Path
) -> None:
    """The desk shows a `newsletter send` run elsewhere (two worker processes) as running, offers no
    Resume beside it, and ends on the ledger's own numbers."""
    add_readers(database, 120)
    client = signed_in_client(desk_config, database)
    # Each worker records a batch's deliveries when the batch is done: in batches of 10 the done count
    # climbs in steps over the send's 3 s, rather than from 0 to 120 between two of the desk's polls.
    terminal = desk_config.replace(send_workers=2, send_rate=40.0, batch_size=10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    command = [
        sys.executable,
        "-c",
        "from newsletter.cli import main; main()",
        "send",
        str(SAMPLE_DIGEST),
        "--yes",
    ]
    process = subprocess.Popen(command, cwd=tmp_path, env={**env, **settings_environment(terminal)})
    try:
        seen = wait_for(
            lambda: (
                (p := client.get(f"/desk/editions/{EDITION}/progress.json")).status_code == 200
                and p.json()["done"] > 0
                and p.json()["status"] == "sending"
                and p.json()
            ),
            what="the terminal's send to show on the desk",
        )
        assert seen["running"] is True and seen["can_resume"] is False and seen["can_pause"] is True
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
    final = client.get(f"/desk/editions/{EDITION}/progress.json").json()
    edition = database.ledger.find_edition(EDITION)
    assert edition is not None
    assert final["counts"]["accepted"] == database.ledger.counts(edition.id)["accepted"] == 120
    assert final["status"] == "sent" and final["running"] is False


def test_preflight_errors_stop_send_now_and_scheduling(desk_config: Settings, database: Database) -> None:
    """An edition Gmail would clip (the unsubscribe link hidden) is shown with the error and not sent."""
    add_readers(database, 2)
    client = signed_in_client(desk_config, database)
    csrf = desk_csrf(client)
    long = "A very long paragraph about the week, repeated until the edition is far too big. " * 40
    digest = SAMPLE_DIGEST.read_text().replace("paragraphs:\n", "paragraphs:\n" + f"  - {long}\n" * 40, 1)
    assert upload(client, "long.yaml", digest.encode(), csrf).status_code == 303
    page = client.get(f"/desk/editions/{EDITION}")
    assert 'class="finding-error"' in page.text and "Gmail clips" in page.text
    refused = client.post(f"/desk/editions/{EDITION}/send", data={"csrf": csrf, "recipients": "2"})
    assert refused.status_code == 409 and "Preflight found 1 error(s)" in refused.text
    later = (dt.datetime.now().astimezone() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert (
        client.post(f"/desk/editions/{EDITION}/schedule", data={"csrf": csrf, "at": later}).status_code == 409
    )
    edition = database.ledger.find_edition(EDITION)
    assert edition is not None and edition.status is EditionStatus.draft and edition.scheduled_at is None
    assert sum(database.ledger.counts(edition.id).values()) == 0
