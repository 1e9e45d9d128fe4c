"""The desk's figures: an edition's results with bounce reasons grouped, and the list's weekly growth."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from sqlalchemy import update

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.prepare import prepare_edition
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from newsletter.feedback.records import FeedbackKind, FeedbackRecord
from newsletter.web.desk.charts import Series, grouped_bars
from newsletter.web.desk.stats import weekly_growth
from subscribers.models import ConsentEvent, Status
from subscribers.store import Consent
from tests.support.desk_helpers import add_readers, desk_settings, signed_in_client


def test_bounce_reasons_are_grouped_per_edition(
    settings: Settings, database: Database, tmp_path: Path, sample_digest: Digest
) -> None:
    add_readers(database, 4)
    edition = prepare_edition(
        sample_digest, Renderer(settings.templates_dir), database.ledger, settings
    ).edition
    with database.sessions.begin() as session:
        for n, (kind, status, text) in enumerate(
            [
                (FeedbackKind.hard_bounce, "5.1.1", "550 5.1.1 <a@x> user unknown"),
                (FeedbackKind.hard_bounce, "5.1.1", "550 5.1.1 <b@x> no such user"),
                (FeedbackKind.soft_bounce, "4.2.2", "452 mailbox full"),
            ],
            start=1,
        ):
            session.add(
                FeedbackRecord(
                    dedupe_key=f"k{n}",
                    source="dsn",
                    kind=kind,
                    subscriber_id=n,
                    edition_id=edition.id,
                    status=status,
                    diagnostic=text,
                )
            )
    client = signed_in_client(desk_settings(settings, tmp_path), database)
    page = client.get(f"/desk/editions/{edition.key}/stats")
    assert page.status_code == 200
    assert (
        "<td>the mailbox does not exist (userunknown)</td><td>hard</td><td>5.1.1</td><td>2</td>" in page.text
    )
    assert "<td>the mailbox is full (mailboxfull)</td><td>soft</td>" in page.text


def test_weekly_growth_counts_subscribed_confirmed_and_left(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    add_readers(database, 3, status=Status.pending)
    database.store.confirm(1, Consent(source="t"))
    database.store.unsubscribe(2, Consent(source="t"))
    today = dt.date(2026, 12, 2)  # a Wednesday; its week starts on Monday 30 November
    this_week = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    three_weeks_ago = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)
    with database.sessions.begin() as session:
        session.execute(update(ConsentEvent).values(at=this_week))
        session.execute(
            update(ConsentEvent).where(ConsentEvent.subscriber_id == 3).values(at=three_weeks_ago)
        )
    client = signed_in_client(desk_settings(settings, tmp_path), database)
    growth = weekly_growth(client.app.state.desk, 6, today)  # type: ignore[attr-defined]
    assert [row["week"] for row in growth][-1] == dt.date(2026, 11, 30)
    counts = [(row["subscribed"], row["confirmed"], row["left"]) for row in growth]
    assert counts == [(0, 0, 0), (0, 0, 0), (1, 0, 0), (0, 0, 0), (0, 0, 0), (2, 1, 1)]
    page = client.get("/desk/stats", params={"weeks": 6})
    rows = re.findall(r"<tr><td>\d{4}-\d\d-\d\d</td><td>\d+</td><td>\d+</td><td>\d+</td></tr>", page.text)
    assert len(rows) == 6
    assert '<svg class="desk-chart"' in page.text and "<script" not in page.text.split("<svg", 1)[1]
    assert client.get("/desk/stats", params={"weeks": 0}).status_code == 400


def test_the_chart_escapes_its_labels_and_describes_itself() -> None:
    svg = grouped_bars("Growth <b>", ["w<1>"], [Series("a&b", [3])])
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "w&lt;1&gt;" in svg and "a&amp;b" in svg
    assert '<desc id="chart-desc">w&lt;1&gt;: 3 a&amp;b</desc>' in svg
