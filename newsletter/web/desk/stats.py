"""Figures on the desk: one edition's results with its bounce reasons grouped, and the list's growth.

The edition's numbers are ``feedback.stats.edition_stats`` (the definitions are written there), the
same the ``newsletter stats`` command prints. Bounce reasons are the classifier's words for each
recorded bounce (``feedback.classify``), counted. Growth is counted per ISO week from the consent
events: subscribed (signed up, added or imported), confirmed, and left (unsubscribed, bounced,
complained, erased); the database groups by day and the weeks are summed here, so the query returns
at most a few hundred rows whatever the size of the list.
"""

from __future__ import annotations

import collections
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from newsletter.feedback.classify import classify
from newsletter.feedback.reasons import reason
from newsletter.feedback.records import FeedbackKind, FeedbackRecord
from newsletter.feedback.stats import edition_stats
from newsletter.web.desk.charts import Series, grouped_bars
from newsletter.web.desk.context import DeskContext, Signed, desk, edition_or_404, signed_in
from subscribers.models import ConsentEvent, ConsentKind, utcnow

router = APIRouter(dependencies=[Depends(signed_in)])
SignedIn = Annotated[Signed, Depends(signed_in)]

GROWTH = {
    "subscribed": (ConsentKind.signup, ConsentKind.added, ConsentKind.imported),
    "confirmed": (ConsentKind.confirmed,),
    "left": (ConsentKind.unsubscribed, ConsentKind.bounced, ConsentKind.complained, ConsentKind.erased),
}


def bounce_reasons(context: DeskContext, edition_id: int) -> list[dict[str, Any]]:
    """Each reason with its kind and how many bounces it explains, most frequent first.

    The reason recorded with the bounce where there is one; older rows are classified again from their
    status and diagnostic, with the same classifier.
    """
    counter: collections.Counter[tuple[str, str, str]] = collections.Counter()
    columns = (FeedbackRecord.kind, FeedbackRecord.status, FeedbackRecord.diagnostic, FeedbackRecord.reason)
    query = select(*columns).where(
        FeedbackRecord.edition_id == edition_id,
        FeedbackRecord.kind.in_((FeedbackKind.hard_bounce, FeedbackKind.soft_bounce)),
    )
    with context.database.sessions() as session:
        for kind, status, diagnostic, recorded in session.execute(query.execution_options(yield_per=1000)):
            name = recorded or classify(status or "", diagnostic or "").reason
            label = "hard" if kind == FeedbackKind.hard_bounce else "soft"
            counter[(label, name, status or "")] += 1
    return [
        {"kind": kind, "reason": name, "meaning": reason(name).meaning, "status": status, "count": count}
        for (kind, name, status), count in counter.most_common()
    ]


def weekly_growth(context: DeskContext, weeks: int, today: dt.date) -> list[dict[str, Any]]:
    """One row per ISO week (Monday first), oldest first, ending with the current week."""
    start = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=weeks - 1)
    kinds = {kind: name for name, members in GROWTH.items() for kind in members}
    day = func.date(ConsentEvent.at)
    query = (
        select(day, ConsentEvent.kind, func.count())
        .where(
            ConsentEvent.at >= dt.datetime.combine(start, dt.time(), dt.UTC),
            ConsentEvent.kind.in_(list(kinds)),
        )
        .group_by(day, ConsentEvent.kind)
    )
    rows = {start + dt.timedelta(weeks=n): dict.fromkeys(GROWTH, 0) for n in range(weeks)}
    with context.database.sessions() as session:
        for when, kind, count in session.execute(query):
            date = when if isinstance(when, dt.date) else dt.date.fromisoformat(str(when))
            monday = date - dt.timedelta(days=date.weekday())
            if monday in rows:
                rows[monday][kinds[ConsentKind(kind)]] += int(count)
    return [{"week": monday, **counts} for monday, counts in sorted(rows.items())]


@router.get("/desk/stats", response_class=HTMLResponse)
def list_stats(
    request: Request, signed: SignedIn, weeks: Annotated[int, Query(ge=1, le=104)] = 12
) -> HTMLResponse:
    context = desk(request)
    growth = weekly_growth(context, weeks, utcnow().date())
    labels = [row["week"].strftime("%d %b") for row in growth]
    chart = grouped_bars(
        f"List growth per week, last {weeks} weeks",
        labels,
        [Series(name, [row[name] for row in growth]) for name in GROWTH],
    )
    editions = [edition_stats(context.database.sessions, e) for e in context.database.ledger.editions()[:20]]
    return context.render(
        "stats",
        signed=signed,
        growth=growth,
        chart=chart,
        weeks=weeks,
        editions=editions,
        counts=context.database.store.count_by_status(),
    )


@router.get("/desk/editions/{key}/stats", response_class=HTMLResponse)
def edition_stats_page(request: Request, signed: SignedIn, key: str) -> HTMLResponse:
    context = desk(request)
    edition = edition_or_404(context, key)
    return context.render(
        "edition_stats",
        signed=signed,
        edition=edition,
        stats=edition_stats(context.database.sessions, edition),
        reasons=bounce_reasons(context, edition.id),
    )
