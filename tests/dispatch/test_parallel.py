"""A send split across processes: everyone once, one edition status, and no worker outliving the send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.ledger_tables import DeliveryStatus
from newsletter.delivery.links import Links
from newsletter.dispatch.parallel import send_edition
from newsletter.edition.digest import Digest
from newsletter.errors import TransportError
from tests.conftest import ROOT
from tests.support.sending import prepared_edition, recipients_in, subscribe
from tests.support.smtp_server import Sink


def test_three_processes_reach_every_subscriber_once_and_mark_the_edition_sent(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    subscribe(database, 150)
    settings = settings.replace(send_workers=3, batch_size=20)
    prepared = prepared_edition(database, settings, sample_digest)
    seen: list[int] = []
    summary = send_edition(settings, database, Links(settings), prepared, lambda done, _: seen.append(done))
    assert summary.accepted == summary.recipients == 150 and summary.status == "sent"
    assert database.ledger.counts(prepared.edition.id)[DeliveryStatus.accepted] == 150
    addresses = recipients_in(settings.outbox_dir)
    assert sorted(addresses) == sorted(f"reader{i}@example.org" for i in range(150))  # each once
    assert seen and seen[-1] == 150 and seen == sorted(seen)  # progress adds up the shards


def test_when_the_shards_cannot_reach_their_server_the_send_pauses_and_resumes_whole(
    database: Database, settings: Settings, sample_digest: Digest
) -> None:
    subscribe(database, 40)
    with Sink() as sink:
        closed = sink.url  # nothing listens there once the sink has stopped
    broken = settings.replace(
        send_workers=2, transport="smtp", smtp_url=closed, smtp_timeout=2, max_retries=0
    )
    prepared = prepared_edition(database, broken, sample_digest)
    with pytest.raises(TransportError, match="cannot reach the SMTP server"):
        send_edition(broken, database, Links(broken), prepared)
    assert database.ledger.edition_status(prepared.edition.id) == "paused"
    assert database.ledger.counts(prepared.edition.id)[DeliveryStatus.accepted] == 0
    fixed = settings.replace(send_workers=2)
    summary = send_edition(fixed, database, Links(fixed), prepared)
    assert summary.accepted == 40 and summary.status == "sent"
    assert len(recipients_in(settings.outbox_dir)) == 40


PARENT = """
import sys
from pathlib import Path

from newsletter.config import Settings
from newsletter.database import open_database
from newsletter.edition.digest import load_digest
from newsletter.delivery.prepare import prepare_edition
from newsletter.delivery.links import Links
from newsletter.edition.render import Renderer
from newsletter.dispatch.parallel import send_edition

if __name__ == "__main__":  # the workers are spawned: they import this file again
    settings = Settings(**eval(sys.argv[1]))
    database = open_database(settings)
    digest = load_digest(Path(sys.argv[2]))
    prepared = prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings)
    send_edition(settings, database, Links(settings), prepared)
"""


def test_workers_stop_sending_when_the_send_command_is_killed(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    subscribe(database, 400)
    with Sink() as sink:
        values = {
            "database_url": settings.database_url,
            "secret_key": settings.secret_key,
            "from_address": settings.from_address,
            "postal_address": settings.postal_address,
            "transport": "smtp",
            "smtp_url": sink.url,
            "send_workers": 2,
            "send_rate": 40.0,  # 20 a second per worker: ten seconds of sending
        }
        script = tmp_path / "parent.py"
        script.write_text(textwrap.dedent(PARENT))
        sample = ROOT / "samples" / "2011-07-11-weekly-highlights.yaml"
        parent = subprocess.Popen(
            [sys.executable, str(script), repr(values), str(sample)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + 60
        while sink.messages < 20 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.05)
        assert sink.messages >= 20, "the workers never started sending"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        settled, last = time.monotonic() + 30, -1
        while time.monotonic() < settled:  # the orphans exit within a second or so; then nothing more comes
            time.sleep(1.5)
            if sink.messages == last:
                break
            last = sink.messages
        assert sink.messages == last < 400
