"""The archive: every edition whose send has started (or that the editor published), at a stable URL.

``/archive/`` lists them with the signup form, ``/archive/<date>-<issue>/`` shows one edition's web copy
(the edition as mailed, minus everything personal), ``/archive/feed.atom`` is the Atom feed. An edition
that is not in the archive is a 404, the same as one that does not exist, so drafts stay unseen.
"""

from __future__ import annotations

import datetime as dt
import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from newsletter.edition.slots import archive_url
from newsletter.edition.stored import Edition
from newsletter.review.web_copy import WebCopies
from newsletter.web.context import web
from newsletter.web.feed import FeedEntry, atom_feed

router = APIRouter()
KEY = re.compile(r"^\d{4}-\d{2}-\d{2}-[a-z0-9-]{1,80}$")
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _copies(request: Request) -> WebCopies:
    copies = request.app.state.web_copies
    assert isinstance(copies, WebCopies)
    return copies


def _archived(request: Request, key: str) -> Edition:
    if not KEY.match(key):
        raise HTTPException(404)
    edition = request.app.state.database.ledger.find_edition(key)
    if edition is None or not edition.in_archive:
        raise HTTPException(404)
    assert isinstance(edition, Edition)
    return edition


@router.get("/archive", include_in_schema=False)
def archive_no_slash() -> RedirectResponse:
    return RedirectResponse("/archive/", status_code=308)


@router.get("/archive/", response_class=HTMLResponse)
def archive_index(request: Request) -> HTMLResponse:
    context = web(request)
    copies = _copies(request)
    editions = request.app.state.database.ledger.archived_editions()
    rows = [
        {
            "key": e.key,
            "date": e.key[:10],
            "subject": e.subject,
            "preheader": copies.get(e).preheader,
        }
        for e in editions
    ]
    return context.pages.render(
        "archive",
        editions=rows,
        csrf_token=context.csrf.issue(),
        action="/subscribe",
        email="",
        name="",
        error="",
        notice="",
        site="",
    )


@router.get("/archive/feed.atom")
def archive_feed(request: Request) -> Response:
    context = web(request)
    base = context.settings.base_url.rstrip("/")
    copies = _copies(request)
    entries = [
        FeedEntry(archive_url(base, e.key), e.subject, copies.get(e).preheader, e.archived_at)
        for e in request.app.state.database.ledger.archived_editions(limit=50)
    ]
    body = atom_feed(
        title=str(context.pages.common["newsletter"]),
        archive_url=f"{base}/archive/",
        feed_url=f"{base}/archive/feed.atom",
        entries=entries,
        empty_time=EPOCH,
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get("/archive/{key}", include_in_schema=False)
def edition_no_slash(request: Request, key: str) -> RedirectResponse:
    _archived(request, key)
    return RedirectResponse(f"/archive/{key}/", status_code=308)


@router.get("/archive/{key}/", response_class=HTMLResponse)
def archive_edition(request: Request, key: str) -> HTMLResponse:
    copy = _copies(request).get(_archived(request, key))
    return HTMLResponse(copy.html, headers={"Cache-Control": "public, max-age=300"})
