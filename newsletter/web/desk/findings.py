"""What the desk tells an editor about an edition before it goes out, in words.

``findings(digest, edition, settings)`` is the desk's one call for this. Until the preflight stage
(newsletter/review/preflight.py) is on main it gives what the edition stage can tell by itself: the
HTML's size against Gmail's clipping, the subject's length, a missing preheader, plain-http links,
the recipient count; preflight's findings replace these there and nowhere else.
"""

from __future__ import annotations

import dataclasses
import enum

from newsletter.config import Settings
from newsletter.edition.digest import Digest
from newsletter.edition.stored import Edition

GMAIL_CLIP_BYTES = 102 * 1024
HTML_WARN_BYTES = 80 * 1024
SUBJECT_WARN_CHARS = 78


class Severity(enum.StrEnum):
    error = "error"  # should be fixed before sending
    warning = "warning"  # worth a look
    note = "note"  # checked, for information


@dataclasses.dataclass(frozen=True)
class Finding:
    """The shape preflight's findings have too: severity, message, and where (empty: the whole edition)."""

    severity: Severity
    message: str
    where: str = ""


def findings(digest: Digest | None, edition: Edition, settings: Settings) -> list[Finding]:
    out: list[Finding] = []
    size = len(edition.html.encode("utf-8"))
    if size >= GMAIL_CLIP_BYTES:
        out.append(
            Finding(
                Severity.error,
                f"The HTML is {size / 1024:.1f} KB: Gmail clips messages over "
                "about 102 KB and hides the rest, unsubscribe link included.",
            )
        )
    elif size >= HTML_WARN_BYTES:
        out.append(
            Finding(Severity.warning, f"The HTML is {size / 1024:.1f} KB, close to Gmail's 102 KB clip.")
        )
    else:
        out.append(
            Finding(Severity.note, f"The HTML is {size / 1024:.1f} KB, well under Gmail's 102 KB clip.")
        )
    if len(edition.subject) > SUBJECT_WARN_CHARS:
        out.append(
            Finding(
                Severity.warning,
                f"The subject is {len(edition.subject)} characters long; phones "
                f"show about 40 and most inboxes cut it near {SUBJECT_WARN_CHARS}.",
            )
        )
    if not settings.postal_address.strip():
        out.append(
            Finding(
                Severity.error,
                "No postal address is configured (postal_address): sending is "
                "refused until every footer can show one.",
            )
        )
    if digest is None:
        return out
    if not digest.preheader:
        out.append(
            Finding(
                Severity.warning,
                "There is no preheader: inboxes will show the first words of the "
                "edition beside the subject instead.",
            )
        )
    urls = [str(item.url) for item in digest.all_items() if item.url is not None]
    if digest.lead.url is not None:
        urls.append(str(digest.lead.url))
    plain = sorted({u for u in urls if u.startswith("http://")})
    if plain:
        shown = ", ".join(plain[:3]) + (" …" if len(plain) > 3 else "")
        out.append(Finding(Severity.warning, f"{len(plain)} link(s) use plain http: {shown}"))
    out.append(Finding(Severity.note, f"{len(urls)} link(s) in {len(digest.sections)} section(s)."))
    return out
