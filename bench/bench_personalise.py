"""Personalised messages per second for the seed edition: slot filling vs building an EmailMessage.

Both ways produce a complete multipart/alternative message with the same headers for the same
recipients, measured in one run (so machine noise hits both alike). Prints messages/s and the ratio.

    python bench/bench_personalise.py [N]
"""

from __future__ import annotations

import email.policy
import sys
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.config import Settings  # noqa: E402
from newsletter.delivery.links import Links  # noqa: E402
from newsletter.delivery.message import OutboundMessage, list_unsubscribe  # noqa: E402
from newsletter.delivery.prepare import message_template, unsaved_edition  # noqa: E402
from newsletter.delivery.send_loop import outbound_message  # noqa: E402
from newsletter.edition.digest import load_digest  # noqa: E402
from newsletter.edition.render import Renderer  # noqa: E402
from newsletter.review.sample import fill_sample  # noqa: E402
from subscribers.store import Recipient  # noqa: E402

SETTINGS = Settings(
    secret_key="bench-secret-0123456789abcdef",
    from_address="Burma Partnership <news@example.org>",
    postal_address="PO Box 1, Chiang Mai",
    base_url="https://news.example.org",
)
SMTP_POLICY = email.policy.SMTP.clone(max_line_length=998)


def outbound(links: Links, subscriber_id: int) -> OutboundMessage:
    recipient = Recipient(subscriber_id, f"reader{subscriber_id}@example.org", f"Reader {subscriber_id}")
    return outbound_message(links, "example.org", "2011-07-11-weekly-highlights", 1, recipient)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    digest = load_digest(ROOT / "samples" / "2011-07-11-weekly-highlights.yaml")
    rendered = Renderer(SETTINGS.templates_dir).render_edition(digest, SETTINGS)
    edition = unsaved_edition(rendered, "2011-07-11-weekly-highlights", 1)
    template = message_template(edition, digest.newsletter, SETTINGS, date="Mon, 11 Jul 2011 07:00:00 +0000")
    links = Links(SETTINGS)

    started = time.perf_counter()
    size = 0
    for i in range(1, count + 1):
        size += len(template.build(outbound(links, i)))
    slots = time.perf_counter() - started

    slow_count = max(count // 40, 200)
    started = time.perf_counter()
    for i in range(1, slow_count + 1):
        message = outbound(links, i)
        values = {"name": message.name, "unsubscribe_url": message.unsubscribe_url}
        built = EmailMessage(policy=SMTP_POLICY)
        built["From"] = SETTINGS.from_address
        built["To"] = f"{message.name} <{message.email}>"
        built["Subject"] = rendered.subject
        built["Date"] = "Mon, 11 Jul 2011 07:00:00 +0000"
        built["Message-ID"] = message.message_id
        built["List-Id"] = f"{digest.newsletter} <{SETTINGS.effective_list_id}>"
        built["List-Unsubscribe"] = list_unsubscribe(message.unsubscribe_url, message.unsubscribe_mailto)
        built["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        built.set_content(fill_sample(rendered.text, values), cte="quoted-printable")
        built.add_alternative(fill_sample(rendered.html, values), subtype="html", cte="quoted-printable")
        built.as_bytes()
    slow = time.perf_counter() - started

    fast_rate = count / slots
    slow_rate = slow_count / slow
    print(f"seed edition, {size / count / 1024:.1f} KB per message")
    print(f"slot filling:  {fast_rate:10,.0f} messages/s ({count:,} messages, one core)")
    print(f"EmailMessage:  {slow_rate:10,.0f} messages/s ({slow_count:,} messages, one core)")
    print(f"ratio:         {fast_rate / slow_rate:10.0f}x")


if __name__ == "__main__":
    main()
