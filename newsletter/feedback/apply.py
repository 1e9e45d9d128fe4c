"""The one feedback policy: every source's FeedbackEvents become subscriber states here, and only here.

A bounce is decided by its reason (``reasons.py``), not by its status class:

- recipient-permanent reasons (userunknown, hostunknown, hasmoved, notaccept): suppress at once;
- soft reasons (mailboxfull, suspend, filtered, and the network's: expired, systemerror …): suppress once
  ``soft_bounce_threshold`` distinct deliveries soft-bounced so within ``soft_bounce_window_days`` (a DSN
  and a provider event about the same delivery count once);
- sender-side reasons (authfailure, blocked, spamdetected …): never suppress; the row counts against the
  edition (``stats``: "receivers refused us because …");
- speeding, toomanyconn, auto-replies, delivery reports, delays: recorded, nothing changes;
- a bounce event without a reason (another caller's) is decided by its kind, as hard or soft;
- complaint: ``complained`` (unsubscribed and suppressed; the strongest state, never downgraded here);
- unsubscribe: ``unsubscribed`` (unless already complained);
- delivered / deferred: recorded for the statistics, no decision.

Each event is applied in one transaction: the ``feedback_events`` row (unique ``dedupe_key``), the
status change (compare-and-set, as the store does, so it is right on SQLite too) and the ConsentEvent
carrying the evidence. The same event twice finds its row and changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.delivery.transports.base import SendResult
from newsletter.edition.stored import Edition
from newsletter.feedback.classify import classify
from newsletter.feedback.events import FeedbackEvent, FeedbackKind
from newsletter.feedback.reasons import REASONS, Action, action_for, reason
from newsletter.feedback.records import FeedbackRecord
from subscribers.models import ALLOWED_TRANSITIONS, ConsentEvent, ConsentKind, Status, Subscriber, utcnow

TARGET: dict[FeedbackKind, Status] = {
    FeedbackKind.hard_bounce: Status.bounced,
    FeedbackKind.soft_bounce: Status.bounced,  # only once the threshold is reached
    FeedbackKind.complaint: Status.complained,
    FeedbackKind.unsubscribe: Status.unsubscribed,
}
EVIDENCE_KIND: dict[FeedbackKind, ConsentKind] = {
    FeedbackKind.hard_bounce: ConsentKind.bounced,
    FeedbackKind.soft_bounce: ConsentKind.soft_bounce,
    FeedbackKind.complaint: ConsentKind.complained,
    FeedbackKind.unsubscribe: ConsentKind.unsubscribed,
}


SOFT_COUNTED = ("", *(name for name, entry in REASONS.items() if entry.action is Action.soft))
"""Reasons whose soft bounces count towards suppression ("" for rows written without a reason)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """What the policy did with one event: ``outcome`` is applied, duplicate or unmatched."""

    event: FeedbackEvent
    outcome: str
    action: str
    status: Status | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "action": self.action,
            "kind": str(self.event.kind),
            "subscriber_id": self.event.subscriber_id,
            "edition_id": self.event.edition_id,
            "recipient": self.event.recipient,
            "status": self.status.value if self.status else None,
        }


class _Changed(Exception):
    """The subscriber's status changed between our read and our write: run the event again."""


class FeedbackPolicy:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self.threshold = max(1, settings.soft_bounce_threshold)
        self.window = dt.timedelta(days=max(1, settings.soft_bounce_window_days))

    def seen(self, dedupe_key: str) -> bool:
        with self._sessions() as session:
            query = select(FeedbackRecord.id).where(FeedbackRecord.dedupe_key == dedupe_key)
            return session.scalar(query) is not None

    def apply(self, event: FeedbackEvent, *, now: dt.datetime | None = None) -> Decision:
        """Apply one event; idempotent by ``event.dedupe_key``."""
        for _attempt in range(5):
            try:
                with self._sessions.begin() as session:
                    return self._apply_once(session, event, now or utcnow())
            except IntegrityError:
                if self.seen(event.dedupe_key):  # a concurrent worker applied the same event first
                    return Decision(event, "duplicate", "already applied")
                raise
            except _Changed:
                continue
        raise RuntimeError(f"subscriber {event.subscriber_id} kept changing; {event.dedupe_key} not applied")

    def apply_all(self, events: list[FeedbackEvent]) -> list[Decision]:
        return [self.apply(event) for event in events]

    def _apply_once(self, session: Session, event: FeedbackEvent, now: dt.datetime) -> Decision:
        if session.scalar(select(FeedbackRecord.id).where(FeedbackRecord.dedupe_key == event.dedupe_key)):
            return Decision(event, "duplicate", "already applied")
        subscriber = session.get(Subscriber, event.subscriber_id) if event.subscriber_id else None
        edition = session.get(Edition, event.edition_id) if event.edition_id else None
        occurred = event.occurred_at or now
        session.add(
            FeedbackRecord(
                dedupe_key=event.dedupe_key,
                source=event.source[:32],
                kind=event.kind,
                subscriber_id=subscriber.id if subscriber else None,
                edition_id=edition.id if edition else None,
                recipient=event.recipient[:320],
                status=event.status[:16],
                diagnostic=event.diagnostic[:4000],
                reason=event.reason[:24],
                fault=str(reason(event.reason).fault) if event.reason else "",
                occurred_at=occurred,
                received_at=now,
            )
        )
        session.flush()
        if subscriber is None:
            return Decision(event, "unmatched", "recorded; no subscriber matched")
        if event.kind not in TARGET:
            return Decision(event, "applied", f"recorded ({event.kind})", subscriber.status)
        policy = _bounce_action(event)
        if policy is Action.sender:
            refused = f"receivers refused us ({event.reason}); subscriber unchanged"
            return Decision(event, "applied", refused, subscriber.status)
        if policy is Action.record:
            return Decision(event, "applied", f"recorded ({event.reason})", subscriber.status)
        current = Status(subscriber.status)
        target = TARGET[event.kind]
        action: str
        kind = EVIDENCE_KIND[event.kind]
        if policy is Action.soft:
            count = self._soft_bounces(session, subscriber.id, occurred)
            action = f"soft bounce {count} of {self.threshold} within {self.window.days} days"
            if count < self.threshold:
                target = current
            else:
                kind = ConsentKind.bounced
        elif policy is Action.suppress:
            kind = ConsentKind.bounced
            action = f"hard bounce ({event.reason})" if event.reason else "hard bounce"
        else:
            action = str(event.kind).replace("_", " ")
        if event.kind is FeedbackKind.unsubscribe and current is Status.complained:
            target = current  # a complaint already says more than an unsubscribe
        if target is current:
            action += f"; status stays {current}"
        elif target in ALLOWED_TRANSITIONS[current]:
            changed = session.execute(
                update(Subscriber)
                .where(Subscriber.id == subscriber.id, Subscriber.status == current)
                .values(status=target)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise _Changed
            action += f"; {current} -> {target}"
        else:
            action += f"; status stays {current} ({current} cannot become {target})"
            target = current
        session.add(
            ConsentEvent(
                subscriber_id=subscriber.id,
                kind=kind,
                at=now,
                source=f"feedback:{event.source}"[:100],
                detail=json.dumps(self._evidence(event, action), sort_keys=True, default=str),
            )
        )
        return Decision(event, "applied", action, target)

    def _soft_bounces(self, session: Session, subscriber_id: int, occurred: dt.datetime) -> int:
        """Distinct deliveries that soft-bounced within the window up to ``occurred`` (this one included)."""
        rows = session.execute(
            select(FeedbackRecord.id, FeedbackRecord.edition_id).where(
                FeedbackRecord.subscriber_id == subscriber_id,
                FeedbackRecord.kind == FeedbackKind.soft_bounce,
                FeedbackRecord.reason.in_(SOFT_COUNTED),
                FeedbackRecord.occurred_at >= occurred - self.window,
                FeedbackRecord.occurred_at <= occurred,
            )
        )
        return len({("e", edition) if edition is not None else ("r", row_id) for row_id, edition in rows})

    @staticmethod
    def _evidence(event: FeedbackEvent, action: str) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "feedback": str(event.kind),
            "decision": action,
            "dedupe_key": event.dedupe_key,
        }
        for name in ("recipient", "edition_id", "status", "reason", "diagnostic"):
            value = getattr(event, name)
            if value not in ("", None):
                evidence[name] = value[:1000] if isinstance(value, str) else value
        if event.occurred_at is not None:
            evidence["occurred_at"] = event.occurred_at.isoformat()
        evidence.update({k: str(v)[:500] for k, v in event.evidence.items()})
        return evidence


def _bounce_action(event: FeedbackEvent) -> Action | None:
    """What a bounce, complaint or unsubscribe does: by reason for bounces that name one, else by kind."""
    if not event.is_bounce:
        return None
    if event.reason:
        return action_for(event.reason, temporary=False)
    return Action.suppress if event.kind is FeedbackKind.hard_bounce else Action.soft


def send_time_feedback(policy: FeedbackPolicy) -> Callable[[int, SendResult], None]:
    """The Sender's ``on_permanent`` hook: a 5xx at RCPT or DATA is a bounce of that delivery, classified
    and applied like one that came back by mail (the ledger has already recorded it as ``bounced``)."""

    def handle(edition_id: int, result: SendResult) -> None:
        code = str(result.code) if result.code else ""
        found = classify("", f"{code} {result.detail}")
        kind = FeedbackKind.hard_bounce if found.kind == "hard" else FeedbackKind.soft_bounce
        policy.apply(
            FeedbackEvent(
                kind=kind,
                source="smtp",
                dedupe_key=f"send:e{edition_id}:s{result.subscriber_id}",
                subscriber_id=result.subscriber_id,
                edition_id=edition_id,
                status=found.status or code,
                diagnostic=result.detail[:2000],
                reason=found.reason,
                evidence={"reason": found.reason, "fault": str(found.fault), "reply_code": code},
            )
        )

    return handle
