"""kill -9 at random moments of a real send, resumed each time: nobody skipped, duplicates only in flight.

A send of 10,000 messages runs as the real command (``newsletter send … --transport smtp --resume``) in a
subprocess against the SMTP sink of tests/smtp_server.py in this process (aiosmtpd would be the
bottleneck: it takes ~300 of these messages a second). It is killed with SIGKILL four times, each time
after the server has taken a random number of further messages, and resumed; a fifth run finishes.
The ledger must then hold exactly one accepted delivery per subscriber and nothing else, the server must
have every Message-ID, and the only Message-IDs it saw twice are bounded by the in-flight window per
crash (docs/delivery.md): the transport's window (2 x concurrency) plus one unwritten result group.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.ledger_tables import Delivery, DeliveryStatus
from newsletter.edition.digest import Digest, Lead
from newsletter.edition.stored import EditionStatus
from subscribers import Consent, Status
from tests.support.smtp_server import Sink

SUBSCRIBERS = 10_000
CONCURRENCY = 4
KILLS = 4
IN_FLIGHT_PER_CRASH = 2 * (2 * CONCURRENCY)  # transport window + at most one unwritten result group


def small_digest(sample: Digest, path: Path) -> Path:
    """The sample edition cut down to one short section: the crash test is about the loop, not the bytes."""
    small = sample.model_copy(
        update={
            "lead": Lead(title="A short lead", paragraphs=("One paragraph.",)),
            "sections": sample.sections[:1],
        }
    )
    path.write_text(small.model_dump_json(), encoding="utf-8")
    return path


def start(settings: Settings, digest: Path, server: Sink, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_CONFIG": str(cwd / "none.toml"),
            "NEWSLETTER_DATABASE_URL": settings.database_url,
            "NEWSLETTER_SECRET_KEY": settings.secret_key,
            "NEWSLETTER_FROM": settings.from_address,
            "NEWSLETTER_POSTAL_ADDRESS": settings.postal_address,
            "NEWSLETTER_SMTP_URL": server.url,
            "NEWSLETTER_SMTP_CONCURRENCY": str(CONCURRENCY),
            "NEWSLETTER_BATCH_SIZE": "500",
        }
    )
    command = [
        sys.executable,
        "-c",
        "from newsletter.cli import main; main()",
        "send",
        str(digest),
        "--transport",
        "smtp",
        "--yes",
        "--resume",
        "--json",
    ]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def kill_after(process: subprocess.Popen[str], server: Sink, more: int, deadline: float) -> bool:
    """SIGKILL once the server has taken ``more`` further messages; False if the send ended first."""
    target = sum(server.received.values()) + more
    while sum(server.received.values()) < target:
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the send stalled"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)  # reaps it and closes its pipes
    return True


def test_kill_9_at_random_moments_loses_nobody(
    database: Database, settings: Settings, sample_digest: Digest, tmp_path: Path
) -> None:
    rows = [(f"reader{i}@example.org", f"Reader {i}") for i in range(SUBSCRIBERS)]
    database.store.add_many(rows, status=Status.confirmed, consent=Consent("test"))
    digest = small_digest(sample_digest, tmp_path / "digest.json")
    rng = random.Random(20261128)
    deadline = time.monotonic() + 300
    kills = 0
    with Sink() as server:
        for _ in range(KILLS):
            process = start(settings, digest, server, tmp_path)
            kills += kill_after(process, server, rng.randint(1, SUBSCRIBERS // (KILLS + 1)), deadline)
            if process.returncode is None:
                process.communicate(timeout=300)
            assert process.returncode in (-signal.SIGKILL, 0)
        final = start(settings, digest, server, tmp_path)
        _out, err = final.communicate(timeout=300)
        assert final.returncode == 0, err
        received = server.received.copy()

    assert kills == KILLS
    edition = database.ledger.editions()[0]
    assert edition.status is EditionStatus.sent
    assert database.ledger.counts(edition.id) == {
        "sending": 0,
        "accepted": SUBSCRIBERS,
        "deferred": 0,
        "failed": 0,
        "bounced": 0,
    }
    with database.sessions() as session:
        per_subscriber = session.execute(
            select(Delivery.subscriber_id, func.count())
            .where(Delivery.edition_id == edition.id, Delivery.status == DeliveryStatus.accepted)
            .group_by(Delivery.subscriber_id)
        ).all()
        message_ids = set(
            session.scalars(select(Delivery.message_id).where(Delivery.edition_id == edition.id))
        )
    assert len(per_subscriber) == SUBSCRIBERS and {count for _, count in per_subscriber} == {1}
    assert set(received) == message_ids  # every subscriber's message reached the server
    duplicates = sum(count - 1 for count in received.values())
    assert duplicates <= KILLS * IN_FLIGHT_PER_CRASH, f"{duplicates} messages were received twice"
    print(f"\n{SUBSCRIBERS} messages, {KILLS} kills, {duplicates} received twice")
