"""Inbound webhooks: POST /webhooks/sendgrid (SendGrid's signed Event Webhook).

The route only checks and hands over: ``feedback.sendgrid`` verifies and normalises, ``feedback.apply``
decides. Answers are short JSON: 200 with counts, 403 for a post that is unsigned, tampered or stale,
400 for a body of the wrong shape, 413 for an oversized one, 503 when no webhook key is configured (so
SendGrid retries once the operator has set it). A refused post changes nothing. Database work runs in
the thread pool, never on the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.errors import ConfigError
from newsletter.feedback.apply import FeedbackPolicy
from newsletter.feedback.events import BadSignature, MalformedFeedback
from newsletter.feedback.sendgrid import (
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookVerifier,
    parse_events,
    to_feedback,
)
from subscribers.errors import StoreError

router = APIRouter()


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@router.post("/webhooks/sendgrid")
async def sendgrid_events(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.database
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _refuse(413, "body too large")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _refuse(413, "body too large")
    try:
        verifier = WebhookVerifier(settings.sendgrid_webhook_key, settings.webhook_max_age_seconds)
    except ConfigError as exc:
        return _refuse(503, str(exc))
    try:
        verifier.verify(body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER))
        items = parse_events(body)
    except BadSignature as exc:
        return _refuse(403, str(exc))
    except MalformedFeedback as exc:
        return _refuse(400, str(exc))
    counts = await run_in_threadpool(_apply, settings, database, items)
    return JSONResponse(counts)


def _apply(settings: Settings, database: Database, items: list[dict[str, Any]]) -> dict[str, int]:
    def resolve(email: str) -> int | None:
        try:
            found = database.store.find(email)
        except StoreError:
            return None
        return found.id if found is not None else None

    events = to_feedback(items, Links(settings), resolve)
    decisions = FeedbackPolicy(database.sessions, settings).apply_all(events)
    counts = {
        "received": len(items),
        "ignored": len(items) - len(events),
        "applied": 0,
        "duplicate": 0,
        "unmatched": 0,
    }
    for decision in decisions:
        counts[decision.outcome] = counts.get(decision.outcome, 0) + 1
    return counts
