"""Building the mail receivers send back (RFC 3464 DSNs, RFC 5965 ARF reports), and a real sent edition."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.delivery.prepare import PreparedEdition, prepare_edition
from newsletter.delivery.send_loop import Sender
from newsletter.delivery.transports.outbox import OutboxTransport
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from subscribers import Consent, Status


def subscribe(database: Database, *emails: str) -> dict[str, int]:
    return {e: database.store.add(e, status=Status.confirmed, consent=Consent("test")).id for e in emails}


def prepared(database: Database, settings: Settings, digest: Digest) -> PreparedEdition:
    return prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings)


def send_outbox(database: Database, settings: Settings, digest: Digest) -> tuple[int, dict[str, bytes]]:
    """Send the edition to every confirmed subscriber through the outbox: (edition id, {email: raw})."""
    edition = prepared(database, settings, digest)
    Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        transport=OutboxTransport(settings.outbox_dir),
        links=Links(settings),
    ).send(edition)
    sent: dict[str, bytes] = {}
    for path in settings.outbox_dir.glob("*.eml"):
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        sent[message["To"].addresses[0].addr_spec] = raw
    return edition.edition.id, sent


def _headers_only(original: bytes) -> bytes:
    return original.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0] + b"\n"


def dsn(
    *,
    to: str,
    recipient: str,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 no such user",
    action: str = "failed",
    original: bytes | None = None,
    headers_only: bool = False,
    message_id: str = "<dsn-1@mx.example.net>",
) -> bytes:
    """A Postfix-style RFC 3464 report, written out as the bytes an MTA sends."""
    parts = [
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: {to}\n"
        f"Subject: Undelivered Mail Returned to Sender\nMessage-ID: {message_id}\n"
        "Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"\n\n',
        "--BOUNDARY\nContent-Type: text/plain; charset=us-ascii\n\n"
        f"I'm sorry to have to inform you that your message could not be delivered to {recipient}.\n\n",
        "--BOUNDARY\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: {diagnostic}\n\n",
    ]
    if original is not None:
        kind = "text/rfc822-headers" if headers_only else "message/rfc822"
        body = _headers_only(original) if headers_only else original.replace(b"\r\n", b"\n")
        parts.append(f"--BOUNDARY\nContent-Type: {kind}\n\n" + body.decode("utf-8", "replace") + "\n")
    parts.append("--BOUNDARY--\n")
    return "".join(parts).encode()


def arf(
    *,
    original: bytes,
    recipient: str | None,
    feedback_type: str = "abuse",
    to: str = "fbl@example.org",
    message_id: str = "<arf-1@feedback.example.net>",
) -> bytes:
    """An RFC 5965 report carrying the original's headers (as receivers do, often without the body)."""
    rcpt = f"Original-Rcpt-To: {recipient}\n" if recipient else ""
    return (
        f"From: Feedback Loop <fbl@isp.example.net>\nTo: {to}\nSubject: Complaint about message\n"
        f"Message-ID: {message_id}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n"
        "--B\nContent-Type: message/feedback-report\n\n"
        f"Feedback-Type: {feedback_type}\nUser-Agent: TestFBL/1.0\nVersion: 1\n{rcpt}\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        + _headers_only(original).decode("utf-8", "replace")
        + "\n--B--\n"
    ).encode()


def plain(
    subject: str,
    body: str = "hello",
    to: str = "unsubscribe@example.org",
    sender: str = "Reader <reader@example.net>",
    **extra: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((subject, body)))}@example.net>"
    for name, value in extra.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def header(raw: bytes, name: str) -> str:
    parsed: Message = email.message_from_bytes(raw)
    return str(parsed.get(name, ""))
