"""Subscribers on the desk: search, one person's history, and what an editor may do for them.

Unsubscribe is immediate. Resubscribe needs a reason, recorded with the editor's name as the consent
event's evidence, and goes through the signup flow: the person becomes pending and gets a fresh
confirmation email, because a suppressed address is never mailed again on anyone's word but its
owner's. Export and erase are ``readers.privacy``, the same as ``newsletter subscribers export-data``
and ``erase``. CSV import and export are ``subscribers.importer``, with the per-row error report.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select

from newsletter.feedback.stats import history
from newsletter.readers.privacy import erase, export_data
from newsletter.web.context import client_host
from newsletter.web.desk.context import DeskContext, Signed, desk, signed_in
from newsletter.web.desk.refusal import DeskRefusal
from subscribers.errors import InvalidAddress, StoreError, UnknownSubscriber
from subscribers.importer import export_csv, import_csv
from subscribers.models import Status, Subscriber
from subscribers.store import Consent

router = APIRouter(dependencies=[Depends(signed_in)])
SignedIn = Annotated[Signed, Depends(signed_in)]

PAGE = 50
MAX_IMPORT_BYTES = 50_000_000


def _consent(request: Request, signed: Signed, action: str, **detail: str) -> Consent:
    return Consent(
        source=f"desk:{signed.editor.name}"[:100],
        ip=client_host(request),
        user_agent=request.headers.get("user-agent", "")[:400] or None,
        detail={"action": action, **detail},
    )


def search(context: DeskContext, q: str, after: int) -> list[Subscriber]:
    query = select(Subscriber).where(Subscriber.id > after).order_by(Subscriber.id).limit(PAGE + 1)
    words = q.strip().lower()
    if words:
        pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                Subscriber.email.like(pattern, escape="\\"),
                func.lower(Subscriber.name).like(pattern, escape="\\"),
            )
        )
    with context.database.sessions() as session:
        return list(session.scalars(query))


@router.get("/desk/subscribers", response_class=HTMLResponse)
def subscribers_page(
    request: Request,
    signed: SignedIn,
    q: Annotated[str, Query(max_length=320)] = "",
    after: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    context = desk(request)
    found = search(context, q, after)
    return context.render(
        "subscribers",
        signed=signed,
        q=q,
        found=found[:PAGE],
        next_after=found[PAGE - 1].id if len(found) > PAGE else None,
        counts=context.database.store.count_by_status(),
        report=None,
        error="",
    )


def _subscriber(context: DeskContext, subscriber_id: int) -> Subscriber:
    try:
        return context.database.store.get(subscriber_id)
    except UnknownSubscriber:
        raise DeskRefusal(404, "There is no subscriber with that number.") from None


def _person_page(
    request: Request,
    signed: Signed,
    subscriber_id: int,
    *,
    status: int = 200,
    notice: str = "",
    error: str = "",
) -> HTMLResponse:
    context = desk(request)
    subscriber = _subscriber(context, subscriber_id)
    story = history(context.database.sessions, subscriber.email)
    return context.render(
        "subscriber",
        signed=signed,
        status=status,
        subscriber=subscriber,
        story=story,
        notice=notice,
        error=error,
        erased=subscriber.email.endswith("@erased.invalid"),
    )


@router.get("/desk/subscribers/{subscriber_id:int}", response_class=HTMLResponse)
def subscriber_page(request: Request, signed: SignedIn, subscriber_id: int) -> HTMLResponse:
    return _person_page(request, signed, subscriber_id)


@router.post("/desk/subscribers/{subscriber_id:int}/unsubscribe", response_class=HTMLResponse)
def unsubscribe(request: Request, signed: SignedIn, subscriber_id: int) -> HTMLResponse:
    context = desk(request)
    _subscriber(context, subscriber_id)
    changed = context.database.store.unsubscribe(subscriber_id, _consent(request, signed, "unsubscribe"))
    return _person_page(
        request,
        signed,
        subscriber_id,
        notice="Unsubscribed." if changed else "Already not receiving the newsletter.",
    )


@router.post("/desk/subscribers/{subscriber_id:int}/resubscribe", response_class=HTMLResponse)
def resubscribe(
    request: Request,
    signed: SignedIn,
    subscriber_id: int,
    background: BackgroundTasks,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    context = desk(request)
    subscriber = _subscriber(context, subscriber_id)
    if len(reason.strip()) < 5:
        return _person_page(
            request,
            signed,
            subscriber_id,
            status=422,
            error="Say why (at least a few words): the reason is kept as evidence.",
        )
    if subscriber.status is Status.confirmed:
        return _person_page(request, signed, subscriber_id, notice="Already subscribed.")
    consent = _consent(request, signed, "resubscribe", reason=reason.strip())
    try:
        attempt = context.flow.request(subscriber.email, subscriber.name, consent)
    except InvalidAddress as exc:
        return _person_page(request, signed, subscriber_id, status=422, error=str(exc))
    mail = context.flow.apply(attempt)  # now, so the page shows the new state; the email after it
    if mail is not None:
        background.add_task(context.flow.deliver, mail)
    return _person_page(
        request,
        signed,
        subscriber_id,
        notice="Resubscribed as pending: a confirmation email is on its way, and they are "
        "mailed again once they confirm.",
    )


@router.get("/desk/subscribers/{subscriber_id:int}/export")
def export_person(request: Request, signed: SignedIn, subscriber_id: int) -> Response:
    context = desk(request)
    subscriber = _subscriber(context, subscriber_id)
    data = export_data(context.database, subscriber.email)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="subscriber-{subscriber_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/desk/subscribers/{subscriber_id:int}/erase")
def erase_person(
    request: Request, signed: SignedIn, subscriber_id: int, confirm: Annotated[str, Form(max_length=320)] = ""
) -> Response:
    context = desk(request)
    subscriber = _subscriber(context, subscriber_id)
    if confirm.strip().lower() != subscriber.email:
        return _person_page(
            request, signed, subscriber_id, status=422, error="To erase, type the address exactly as shown."
        )
    erase(context.database, subscriber.email, _consent(request, signed, "erase"))
    return RedirectResponse(f"/desk/subscribers/{subscriber_id}", status_code=303)


@router.get("/desk/subscribers/export.csv")
def export_list(request: Request, signed: SignedIn, background: BackgroundTasks) -> Response:
    context = desk(request)
    handle, name = tempfile.mkstemp(prefix="desk-export-", suffix=".csv")
    with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
        export_csv(context.database.store, out)
    background.add_task(os.unlink, name)
    return FileResponse(
        name, media_type="text/csv", filename="subscribers.csv", headers={"Cache-Control": "no-store"}
    )


@router.post("/desk/subscribers/import", response_class=HTMLResponse)
async def import_list(
    request: Request,
    signed: SignedIn,
    file: Annotated[UploadFile, File()],
    confirmed: Annotated[str, Form(max_length=10)] = "",
    encoding: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    from starlette.concurrency import run_in_threadpool

    context = desk(request)
    label = Path(file.filename or "upload.csv").name[:100]
    raw = await file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        return _import_page(
            context, signed, status=413, error=f"{label}: larger than {MAX_IMPORT_BYTES} bytes."
        )
    handle, name = tempfile.mkstemp(prefix="desk-import-", suffix=".csv")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(raw)
        report = await run_in_threadpool(
            import_csv,
            context.database.store,
            Path(name),
            status=Status.confirmed if confirmed else Status.pending,
            consent=_consent(request, signed, "import", file=label),
            encoding=encoding.strip() or None,
        )
    except StoreError as exc:
        return _import_page(context, signed, status=422, error=str(exc).replace(name, label))
    finally:
        os.unlink(name)
    return _import_page(context, signed, report=report, label=label)


def _import_page(
    context: DeskContext,
    signed: Signed,
    *,
    status: int = 200,
    error: str = "",
    report: object = None,
    label: str = "",
) -> HTMLResponse:
    return context.render(
        "subscribers",
        signed=signed,
        status=status,
        q="",
        found=[],
        next_after=None,
        counts=context.database.store.count_by_status(),
        report=report,
        label=label,
        error=error,
    )
