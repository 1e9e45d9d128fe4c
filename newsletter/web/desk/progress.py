"""A send's progress as the ledger tells it, and the Pause, Resume and Cancel buttons.

Everything here reads the ledger (deliveries per state, the edition's status), so the numbers are the
same whether the send was started from the desk, by ``send.py`` in a terminal, or by ``send_workers``
processes. The rate is the deliveries that became final in the last ``RATE_WINDOW`` seconds. The page
asks for ``progress.json`` about once a second from ``/static/desk/progress.js`` (no inline script, so
the CSP stays strict); without JavaScript the page shows the numbers of the moment it was loaded.

Pause and Cancel change the edition's status, exactly as ``newsletter pause`` / ``cancel`` do; the
sending process stops after its messages in flight. Resume starts a desk send of the stored edition
once no desk send of it is still running (runner.SendRunner.running).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select

from newsletter.delivery.ledger_tables import FINAL_STATUSES, Delivery
from newsletter.edition.stored import Edition, EditionStatus
from newsletter.web.desk.context import DeskContext, Signed, desk, edition_or_404, signed_in
from newsletter.web.desk.refusal import DeskRefusal
from subscribers.models import utcnow

router = APIRouter(dependencies=[Depends(signed_in)])
SignedIn = Annotated[Signed, Depends(signed_in)]

RATE_WINDOW = 10
SHOWN = ("accepted", "bounced", "deferred", "failed", "sending")


def _recent_final(context: DeskContext, edition_id: int, now: dt.datetime) -> int:
    since = now - dt.timedelta(seconds=RATE_WINDOW)
    query = select(func.count()).where(
        Delivery.edition_id == edition_id, Delivery.status.in_(FINAL_STATUSES), Delivery.updated_at >= since
    )
    with context.database.sessions() as session:
        return int(session.scalar(query) or 0)


def progress_of(context: DeskContext, edition: Edition) -> dict[str, Any]:
    ledger = context.database.ledger
    counts = ledger.counts(edition.id)
    status = ledger.edition_status(edition.id) or edition.status
    running = context.runner.running(edition.key)
    done = counts["accepted"] + counts["bounced"] + counts["failed"]
    active = status is EditionStatus.sending or running
    recent = _recent_final(context, edition.id, utcnow()) if active else 0
    # Sending, with no desk send alive but deliveries still landing: a send from a terminal or workers.
    elsewhere = status is EditionStatus.sending and not running and recent > 0
    scheduled = status is EditionStatus.draft and edition.scheduled_at is not None
    return {
        "edition": edition.key,
        "status": str(status),
        "running": running or elsewhere,
        "counts": {name: counts[name] for name in SHOWN},
        "done": done,
        "total": max(
            context.database.store.count_confirmed() + done - counts["accepted"], sum(counts.values())
        ),
        "rate": round(recent / RATE_WINDOW, 1),
        "can_pause": status is EditionStatus.sending or scheduled,
        "can_resume": status in (EditionStatus.paused, EditionStatus.sending)
        and not running
        and not elsewhere,
        "can_cancel": status in (EditionStatus.sending, EditionStatus.paused) or scheduled,
    }


@router.get("/desk/editions/{key}/progress.json")
def progress_json(request: Request, key: str) -> JSONResponse:
    context = desk(request)
    return JSONResponse(
        progress_of(context, edition_or_404(context, key)), headers={"Cache-Control": "no-store"}
    )


def _back(key: str) -> Response:
    return RedirectResponse(f"/desk/editions/{key}#progress", status_code=303)


@router.post("/desk/editions/{key}/pause")
def pause(request: Request, key: str) -> Response:
    context = desk(request)
    edition = edition_or_404(context, key)
    if not context.database.ledger.transition_edition(
        edition.id, (EditionStatus.sending, EditionStatus.draft), EditionStatus.paused
    ):
        raise DeskRefusal(
            409,
            f"This edition is {context.database.ledger.edition_status(edition.id)}; "
            "only a running or scheduled send can be paused.",
        )
    return _back(key)


@router.post("/desk/editions/{key}/resume")
def resume(request: Request, key: str) -> Response:
    context = desk(request)
    edition = edition_or_404(context, key)
    state = progress_of(context, edition)
    if state["running"]:
        raise DeskRefusal(
            409,
            "A send of this edition is still running, or finishing the messages it had "
            "in flight. Try again in a few seconds.",
        )
    if not state["can_resume"]:
        raise DeskRefusal(
            409, f"This edition is {state['status']}; only a paused or interrupted send can be resumed."
        )
    context.runner.start(key)
    return _back(key)


@router.post("/desk/editions/{key}/cancel")
def cancel(request: Request, key: str) -> Response:
    context = desk(request)
    edition = edition_or_404(context, key)
    allowed = (EditionStatus.draft, EditionStatus.sending, EditionStatus.paused)
    if not context.database.ledger.transition_edition(edition.id, allowed, EditionStatus.cancelled):
        raise DeskRefusal(
            409,
            f"This edition is {context.database.ledger.edition_status(edition.id)}; "
            "there is nothing to cancel.",
        )
    return _back(key)
