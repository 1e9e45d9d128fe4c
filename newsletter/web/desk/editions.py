"""Editions on the desk: upload a digest or pick one from the digests folder, look at it, test it, send it.

An uploaded digest is checked first (the same loader as ``newsletter send``: every problem named with
its line and field) and only then saved to ``digests_dir`` under the edition's key; the edition is
rendered once and stored, as ``newsletter send`` stores it, so the preview is exactly what a send
would mail. "Send now" asks first with the recipient count, and the send itself runs in its own process
(runner.SendRunner), never in the web request.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from newsletter.delivery.links import Links
from newsletter.delivery.prepare import prepare_edition, stored_edition
from newsletter.dispatch.parallel import build_sender
from newsletter.edition.digest import MAX_DIGEST_BYTES, load_digest
from newsletter.edition.stored import Edition, EditionStatus
from newsletter.errors import DigestError, NewsletterError
from newsletter.review.findings import Severity
from newsletter.review.sample import SAMPLE_NAME, fill_sample
from newsletter.web.desk.context import DeskContext, Signed, desk, edition_or_404, signed_in
from newsletter.web.desk.progress import progress_of
from newsletter.web.desk.refusal import DeskRefusal
from subscribers.errors import InvalidAddress
from subscribers.validation import normalise_email

router = APIRouter(dependencies=[Depends(signed_in)])
SignedIn = Annotated[Signed, Depends(signed_in)]

DIGEST_SUFFIXES = (".yaml", ".yml", ".json", ".md", ".markdown")
MAX_TEST_ADDRESSES = 5
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; font-src https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)


def digest_files(context: DeskContext) -> list[Path]:
    folder = context.settings.digests_dir
    if not folder.is_dir():
        return []
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in DIGEST_SUFFIXES and not p.name.startswith(".")
        ),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )


def _home(request: Request, signed: Signed, *, status: int = 200, error: str = "") -> HTMLResponse:
    context = desk(request)
    return context.render(
        "editions",
        signed=signed,
        status=status,
        error=error,
        editions=context.database.ledger.editions(),
        files=[p.name for p in digest_files(context)],
        digests_dir=str(context.settings.digests_dir),
    )


@router.get("/desk/", response_class=HTMLResponse)
def editions_page(request: Request, signed: SignedIn) -> HTMLResponse:
    return _home(request, signed)


def _prepare(context: DeskContext, path: Path, shown_as: str) -> Edition:
    """Check, render and store the digest at ``path``; errors name the file as the editor knows it."""
    try:
        digest = load_digest(path)
    except DigestError as exc:
        raise DigestError(str(exc).replace(str(path), shown_as)) from None
    return prepare_edition(digest, context.renderer, context.database.ledger, context.settings).edition


@router.post("/desk/editions/upload")
async def upload_digest(
    request: Request, signed: SignedIn, digest: Annotated[UploadFile, File()]
) -> Response:
    context = desk(request)
    name = Path(digest.filename or "digest").name
    suffix = Path(name).suffix.lower()
    if suffix not in DIGEST_SUFFIXES:
        return _home(request, signed, status=422, error=f"{name}: a digest is a .yaml, .json or .md file.")
    raw = await digest.read(MAX_DIGEST_BYTES + 1)
    if len(raw) > MAX_DIGEST_BYTES:
        return _home(request, signed, status=413, error=f"{name}: larger than {MAX_DIGEST_BYTES} bytes.")
    folder = context.settings.digests_dir
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f".upload-{secrets.token_hex(8)}{suffix}"
    staged.write_bytes(raw)
    try:
        edition = await _run(context, staged, name)
    except NewsletterError as exc:
        staged.unlink(missing_ok=True)
        return _home(request, signed, status=422, error=str(exc))
    os.replace(staged, folder / f"{edition.key}{suffix}")  # kept beside the others, named by its edition
    return RedirectResponse(f"/desk/editions/{edition.key}", status_code=303)


async def _run(context: DeskContext, path: Path, shown_as: str) -> Edition:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_prepare, context, path, shown_as)


@router.post("/desk/editions/open")
def open_digest(
    request: Request, signed: SignedIn, name: Annotated[str, Form(max_length=300)] = ""
) -> Response:
    context = desk(request)
    chosen = next((p for p in digest_files(context) if p.name == name), None)  # only a listed file
    if chosen is None:
        return _home(request, signed, status=404, error="That digest is not in the digests folder.")
    try:
        edition = _prepare(context, chosen, chosen.name)
    except NewsletterError as exc:
        return _home(request, signed, status=422, error=str(exc))
    return RedirectResponse(f"/desk/editions/{edition.key}", status_code=303)


def edition_page(
    request: Request,
    signed: Signed,
    edition: Edition,
    *,
    status: int = 200,
    notice: str = "",
    error: str = "",
    results: list[tuple[str, str, str]] | None = None,
) -> HTMLResponse:
    context = desk(request)
    text = fill_sample(edition.text, {"name": SAMPLE_NAME, "unsubscribe_url": _sample_unsubscribe(context)})
    return context.render(
        "edition",
        signed=signed,
        status=status,
        edition=edition,
        text_edition=text,
        findings=context.findings.of(edition),
        progress=progress_of(context, edition),
        notice=notice,
        error=error,
        results=results or [],
        transport=edition.transport or context.settings.transport,
    )


def _sample_unsubscribe(context: DeskContext) -> str:
    return f"{context.settings.base_url.rstrip('/')}/u/preview"


@router.get("/desk/editions/{key}", response_class=HTMLResponse)
def edition_view(request: Request, signed: SignedIn, key: str) -> HTMLResponse:
    return edition_page(request, signed, edition_or_404(desk(request), key))


@router.get("/desk/editions/{key}/preview.html", response_class=HTMLResponse)
def edition_preview(request: Request, key: str) -> HTMLResponse:
    """The edition's HTML as a sample reader gets it, in a sandbox: framed only by the desk itself."""
    context = desk(request)
    edition = edition_or_404(context, key)
    html = fill_sample(edition.html, {"name": SAMPLE_NAME, "unsubscribe_url": _sample_unsubscribe(context)})
    return HTMLResponse(
        html, headers={"Content-Security-Policy": PREVIEW_CSP, "X-Frame-Options": "SAMEORIGIN"}
    )


@router.post("/desk/editions/{key}/test", response_class=HTMLResponse)
def test_send(
    request: Request, signed: SignedIn, key: str, addresses: Annotated[str, Form(max_length=2000)] = ""
) -> HTMLResponse:
    context = desk(request)
    edition = edition_or_404(context, key)
    raw = [a for a in addresses.replace(";", ",").replace("\n", ",").split(",") if a.strip()]
    if not raw or len(raw) > MAX_TEST_ADDRESSES:
        return edition_page(
            request,
            signed,
            edition,
            status=422,
            error=f"Give one to {MAX_TEST_ADDRESSES} addresses for a test, separated by commas.",
        )
    try:
        checked = [normalise_email(a) for a in raw]
    except InvalidAddress as exc:
        return edition_page(request, signed, edition, status=422, error=str(exc))
    settings = context.settings.replace(transport=edition.transport or context.settings.transport)
    sender = build_sender(settings, context.database, Links(settings))
    try:
        sent = sender.send_test(stored_edition(edition, settings), checked)
    finally:
        sender.close()
    results = [(a, str(r.outcome), r.detail) for a, r in zip(checked, sent, strict=True)]
    return edition_page(
        request, signed, edition, notice="Test sent; it is not counted as the real delivery.", results=results
    )


def parse_local_time(value: str, now: dt.datetime) -> dt.datetime:
    """``2026-12-03T07:00`` from the form, in this server's local time unless it names an offset."""
    try:
        at = dt.datetime.fromisoformat(value.strip()).astimezone(dt.UTC)
    except ValueError:
        raise DeskRefusal(422, "Give a date and time, like 2026-12-03 07:00.") from None
    if at <= now:
        raise DeskRefusal(422, "That time has passed; use Send now to send at once.")
    return at


@router.post("/desk/editions/{key}/schedule", response_class=HTMLResponse)
def schedule(
    request: Request, signed: SignedIn, key: str, at: Annotated[str, Form(max_length=40)] = ""
) -> Response:
    context = desk(request)
    edition = edition_or_404(context, key)
    if edition.status is not EditionStatus.draft:
        return edition_page(
            request,
            signed,
            edition,
            status=409,
            error=f"This edition is {edition.status}; only one not yet sent can be scheduled.",
        )
    when = parse_local_time(at, dt.datetime.now(dt.UTC))
    _gate(context, edition)
    context.database.ledger.schedule(edition.id, when, context.settings.transport)
    return RedirectResponse(f"/desk/editions/{key}", status_code=303)


def _gate(context: DeskContext, edition: Edition) -> None:
    """Preflight's errors stop a send or a schedule, as they stop ``newsletter send`` (the desk has no
    --force: fix the digest and upload it again). A send that has reached someone is not stopped."""
    if edition.started_at is not None:
        return
    errors = [f for f in context.findings.of(edition) if f.severity is Severity.error]
    if errors:
        raise DeskRefusal(
            409,
            f"Preflight found {len(errors)} error(s) in this edition (listed under “Before you send”): "
            "fix the digest and upload it again.",
        )


@router.get("/desk/editions/{key}/send", response_class=HTMLResponse)
def confirm_send(request: Request, signed: SignedIn, key: str) -> HTMLResponse:
    return _confirm_page(request, signed, edition_or_404(desk(request), key))


def _confirm_page(
    request: Request, signed: Signed, edition: Edition, *, notice: str = "", status: int = 200
) -> HTMLResponse:
    context = desk(request)
    counts = context.database.ledger.counts(edition.id)
    return context.render(
        "confirm_send",
        signed=signed,
        status=status,
        edition=edition,
        notice=notice,
        recipients=context.database.store.count_confirmed(),
        already=counts["accepted"] + counts["failed"] + counts["bounced"],
        transport=context.settings.transport,
    )


@router.post("/desk/editions/{key}/send")
def send_now(
    request: Request, signed: SignedIn, key: str, recipients: Annotated[int, Form(ge=0)] = -1
) -> Response:
    context = desk(request)
    edition = edition_or_404(context, key)
    if recipients != context.database.store.count_confirmed():
        return _confirm_page(
            request,
            signed,
            edition,
            status=409,
            notice="The number of recipients changed since this page was shown. Please check it again.",
        )
    if context.runner.running(key):
        raise DeskRefusal(409, "A send of this edition is already running.")
    _gate(context, edition)
    if not context.database.ledger.transition_edition(
        edition.id,
        (EditionStatus.draft, EditionStatus.sent),
        EditionStatus.sending,
        context.settings.transport,
    ):
        raise DeskRefusal(
            409,
            f"This edition is {context.database.ledger.edition_status(edition.id)}: "
            "use Resume for a paused send; a cancelled one cannot be sent.",
        )
    context.runner.start(key)
    return RedirectResponse(f"/desk/editions/{key}#progress", status_code=303)
