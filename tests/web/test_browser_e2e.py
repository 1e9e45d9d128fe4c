"""A reader's whole life on the list, in Debian's chromium, against a real SMTP server and uvicorn.

Open the form at phone width, subscribe, read the confirmation email from the SMTP server (aiosmtpd on
127.0.0.1), follow its link in the browser and press the one button (opening the link alone changes
nothing, so mail scanners confirm nobody), receive an edition sent through the SMTP transport, leave
with an RFC 8058 one-click POST to the List-Unsubscribe URL of that message, and check that the next
edition skips the reader.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsletter.database import open_database
from newsletter.delivery.links import Links
from newsletter.delivery.prepare import prepare_edition
from newsletter.delivery.send_loop import Sender
from newsletter.delivery.transports import open_transport
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from subscribers.models import Status
from subscribers.store import Consent
from tests.conftest import make_settings
from tests.support.browser import launched_chromium
from tests.support.polling import wait_for
from tests.support.services import unavailable
from tests.support.web_helpers import ServerThread, build_app, confirm_url, parse

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


class Mailbox:
    """aiosmtpd handler keeping every message it accepts, with its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), parse(envelope.original_content)))
        return "250 2.0.0 OK queued as e2e"

    def wait_for(self, count: int, seconds: float = 15) -> list[tuple[list[str], EmailMessage]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, the SMTP server got {len(self.messages)}")

    def to(self, address: str, subject: str) -> list[EmailMessage]:
        with self._lock:
            return [m for rcpts, m in self.messages if address in rcpts and m["Subject"] == subject]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    if importlib.util.find_spec("aiosmtpd") is None:
        unavailable("aiosmtpd is not installed")
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    with launched_chromium() as chromium:
        yield chromium


def test_signup_confirm_receive_and_leave_with_one_click(
    tmp_path: Path, smtp_server: tuple[Mailbox, int], browser: Any, sample_digest: Digest
) -> None:
    mailbox, smtp_port = smtp_server
    server = ServerThread()
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'newsletter.db'}",
        transport="smtp",
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        base_url=server.url,
    )
    database = open_database(settings, migrate=True)
    database.store.add("other@example.org", "Other", status=Status.confirmed, consent=Consent(source="test"))
    server.start(build_app(settings, database))
    shots = Path(os.environ.get("NEWSLETTER_SCREENSHOTS", str(tmp_path)))
    try:
        page = browser.new_page(viewport=PHONE)
        page.goto(server.url + "/")
        assert page.title() == "Subscribe to Burma Partnership"
        # Fits the phone: nothing wider than the viewport.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # Keyboard order reaches the fields and the button, never the honeypot.
        focused = []
        for _ in range(6):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        assert focused.index("nl-email") < focused.index("nl-name") < focused.index("BUTTON")
        assert "nl-website" not in focused
        page.get_by_label("Email address").fill("Phone.Reader@Example.org")
        page.get_by_label("Name (optional)").fill("Phone Reader")
        page.screenshot(path=str(shots / "signup-375.png"), full_page=True)
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", name="Check your inbox").is_visible()

        rcpts, confirmation = mailbox.wait_for(1)[0]
        assert rcpts == ["phone.reader@example.org"]
        assert confirmation["Subject"] == "Confirm your subscription to Burma Partnership"
        link = confirm_url(confirmation)
        assert link.startswith(server.url + "/confirm/")
        page.goto(link)
        # Opening the link (as a mail scanner does) changes nothing: one button, no script.
        assert page.get_by_role("heading", name="Confirm your subscription").is_visible()
        assert page.locator("button").count() == 1 and page.locator("script").count() == 0
        assert "p…@example.org" in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(shots / "confirm-375.png"), full_page=True)
        reader = database.store.find("phone.reader@example.org")
        assert reader is not None and reader.status is Status.pending
        page.get_by_role("button", name="Yes, subscribe me").click()
        page.get_by_role("heading", name="Thank you, you are subscribed").wait_for()
        page.screenshot(path=str(shots / "confirmed-375.png"), full_page=True)
        assert database.store.get(reader.id).status is Status.confirmed
        assert database.store.events(reader.id)[-1].source == "web:confirm button"
        mailbox.wait_for(2)  # the welcome email
        wide = browser.new_page(viewport=DESKTOP, java_script_enabled=False)  # works without JavaScript
        wide.goto(link)
        wide.screenshot(path=str(shots / "confirm-1280.png"), full_page=True)
        wide.get_by_role("button", name="Yes, subscribe me").click()
        wide.get_by_role("heading", name="Thank you, you are subscribed").wait_for()  # a second press
        wide.close()

        links = Links(settings)
        renderer = Renderer(settings.templates_dir)

        def send(digest: Digest) -> Any:
            prepared = prepare_edition(digest, renderer, database.ledger, settings)
            transport = open_transport(settings)
            try:
                return Sender(
                    settings=settings,
                    store=database.store,
                    ledger=database.ledger,
                    transport=transport,
                    links=links,
                ).send(prepared)
            finally:
                transport.close()

        first = send(sample_digest)
        assert first.accepted == 2
        mailbox.wait_for(4)
        [edition] = mailbox.to("phone.reader@example.org", sample_digest.title)
        header = edition["List-Unsubscribe"]
        assert edition["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        https = re.search(r"<(https?://[^>]+)>", str(header))
        assert https is not None
        response = httpx.post(https.group(1), data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
        assert response.status_code == 200 and "set-cookie" not in response.headers
        assert database.store.get(reader.id).status is Status.unsubscribed

        second_digest = sample_digest.model_copy(update={"issue": "Second", "title": "Second edition"})
        second = send(second_digest)
        assert second.recipients == 1 and second.accepted == 1  # the reader who left is not on the list
        mailbox.wait_for(5)
        assert len(mailbox.to("other@example.org", "Second edition")) == 1
        assert mailbox.to("phone.reader@example.org", "Second edition") == []
    finally:
        server.stop()
        database.close()


def test_embedded_form_in_a_frame_and_the_unsubscribe_button(tmp_path: Path, browser: Any) -> None:
    """The iframe editors paste works (framing allowed, same-origin post accepted), and so does the
    unsubscribe page's one button, at phone width."""
    server = ServerThread()
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'newsletter.db'}", base_url=server.url)
    database = open_database(settings, migrate=True)
    server.start(build_app(settings, database))
    try:
        page = browser.new_page(viewport=PHONE)
        page.goto(server.url + "/embed/snippet")
        frame = page.frame_locator("iframe.nl-preview")
        frame.get_by_label("Email address").fill("framed@example.org")
        frame.get_by_role("button", name="Subscribe").click()
        frame.get_by_role("heading", name="Check your inbox").wait_for()
        # The request is applied to the list by a task that runs once this page has been answered.
        framed = wait_for(lambda: database.store.find("framed@example.org"), 15, "the signup to be applied")
        assert framed.status is Status.pending
        assert database.store.events(framed.id)[0].source == "web:embed"

        reader = database.store.add("leaving@example.org", consent=Consent(source="t"))
        page.goto(f"{server.url}/u/{Links(settings).unsubscribe_token(reader.id)}")
        assert database.store.get(reader.id).status is Status.confirmed  # opening the link changes nothing
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.get_by_role("button", name="Unsubscribe").click()
        page.get_by_role("heading", name="You are unsubscribed").wait_for()
        assert database.store.get(reader.id).status is Status.unsubscribed
        assert database.store.events(reader.id)[-1].source == "web:unsubscribe page"
    finally:
        server.stop()
        database.close()
