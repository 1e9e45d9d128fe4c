"""An editor's whole week on the desk in Debian's chromium, against uvicorn and a real SMTP server.

Sign in, upload the seed digest (Markdown), read the preview and the findings, send a test, send to 500 demo
subscribers, watch the progress reach 500 without a reload, pause and resume once, read the stats,
find a subscriber and their history. Each step is screenshotted at 375 and 1280 px and checked by
axe-core; the page must never be wider than the phone's screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from newsletter.database import open_database
from newsletter.web.desk.editors import EditorStore, generation
from newsletter.web.desk.session import DeskSessions
from tests.conftest import SAMPLE_DIGEST, make_settings
from tests.support.browser import axe_violations
from tests.support.desk_helpers import PASSWORD, TEST_MEMORY_KIB, add_readers, desk_settings
from tests.support.smtp_server import SmtpServer
from tests.support.web_helpers import ServerThread, build_app

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
EDITION = "2011-07-11-weekly-highlights"
READERS = 500
MARKDOWN_DIGEST = SAMPLE_DIGEST.with_suffix(".md")  # the seed digest as Markdown


class Steps:
    """Screenshots at both widths and an axe check for each step the test reaches."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0
        self.problems: list[str] = []

    def look(self, name: str) -> None:
        self.count += 1
        page = self.page
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(200)  # let frames repaint at the new width before the screenshot
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            self.problems.append(f"{name}: {width} px wide at 375 px")
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}-375.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
        page.wait_for_timeout(200)
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}-1280.png"), full_page=True)
        self.problems.extend(f"{name}: {v}" for v in axe_violations(page))


def test_an_editors_week_on_the_desk(tmp_path: Path, chromium: Any, screenshots: Path) -> None:
    web = ServerThread()
    with SmtpServer() as smtp:
        settings = desk_settings(
            make_settings(
                tmp_path,
                f"sqlite:///{tmp_path / 'newsletter.db'}",
                transport="smtp",
                smtp_url=smtp.url,
                base_url=web.url,
                send_rate=60.0,  # about 8 s for the list: time to watch it and to pause once
            ),
            tmp_path,
        )
        database = open_database(settings, migrate=True)
        add_readers(database, READERS)
        editor = EditorStore(database.sessions, TEST_MEMORY_KIB).add("ann")
        link = DeskSessions(settings.secret_key, hours=1, https=False).password_link_token(
            editor.id, generation(editor)
        )
        web.start(build_app(settings, database))
        page = chromium.new_page(viewport=DESKTOP)
        steps = Steps(page, screenshots)
        try:
            _first_password_and_sign_in(page, steps, web.url, link)
            _upload_and_preview(page, steps)
            _test_send(page, steps, smtp)
            _send_pause_resume(page, steps, database)
            _stats(page, steps)
            _subscriber_history(page, steps)
        finally:
            web.stop()
            database.close()
    assert not steps.problems, "\n".join(steps.problems)
    assert smtp.received and len(smtp.received) == READERS + 1  # the list, and the test to the editor


def _first_password_and_sign_in(page: Any, steps: Steps, base: str, link: str) -> None:
    page.goto(f"{base}/desk/")
    assert page.url.endswith("/desk/sign-in")  # nothing without a session
    steps.look("sign-in")
    page.goto(f"{base}/desk/set-password/{link}")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    steps.look("set-password")
    page.get_by_role("button", name="Set password and sign in").click()
    page.get_by_role("heading", name="Editions", exact=True).wait_for()
    page.get_by_role("button", name="Sign out ann").click()
    page.get_by_label("Editor name").fill("ann")
    page.get_by_label("Password").fill("a wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert (
        page.get_by_role("alert").inner_text()
        == "That name and password do not match an editor of this desk."
    )
    steps.look("sign-in-refused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Editions", exact=True).wait_for()
    steps.look("editions-empty")


def _upload_and_preview(page: Any, steps: Steps) -> None:
    page.get_by_label("Digest file").set_input_files(str(MARKDOWN_DIGEST))
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("heading", name="Preview").wait_for()
    assert page.url.endswith(f"/desk/editions/{EDITION}")
    frame = page.frame_locator('iframe[title="The edition at phone width"]')
    frame.locator("body").get_by_text("Burma Partnership", exact=False).first.wait_for()
    assert "Sample Reader" in page.locator(".text-edition").inner_text()
    findings = page.locator(".findings li").all_inner_texts()
    assert not [f for f in findings if f.lower().startswith("error")], findings
    assert any("SpamAssassin" in f for f in findings), findings
    steps.look("edition-preview")
    # Full-page screenshots leave cross-origin (sandboxed) frames below the fold blank: one of each
    # frame in view, so a person can see what the editor sees.
    for width, title in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(width)
        page.locator(f'iframe[title="The edition at {title} width"]').scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        page.screenshot(path=str(steps.folder / f"{steps.count:02d}-edition-preview-{title}-frame.png"))


def _test_send(page: Any, steps: Steps, smtp: SmtpServer) -> None:
    page.get_by_label("Send a test to").fill("editor@example.net")
    page.get_by_role("button", name="Send test").click()
    page.get_by_role("status").get_by_text("Test sent").wait_for()
    assert "editor@example.net: accepted" in page.locator("main ul.plain").first.inner_text()
    assert [m.rcpt_tos for m in smtp.messages] == [("editor@example.net",)]
    steps.look("test-sent")


def _send_pause_resume(page: Any, steps: Steps, database: Any) -> None:
    page.get_by_role("link", name="Send now…").click()
    page.get_by_role("heading", name=f"Send to {READERS} subscribers?").wait_for()
    steps.look("confirm-send")
    page.get_by_role("button", name=f"Yes, send to {READERS} subscribers").click()
    page.get_by_role("heading", name="Delivery").wait_for()
    page.evaluate("window.deskMarker = 'the same page'")  # gone if the page ever reloads

    accepted = page.locator('[data-field="accepted"]')
    page.wait_for_function(
        "() => Number(document.querySelector('[data-field=accepted]').textContent) >= 60", timeout=60_000
    )
    steps.look("sending")
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for(timeout=30_000)  # shown once the send has stopped
    paused_at = int(accepted.inner_text())
    assert 0 < paused_at < READERS
    assert page.locator('[data-field="status"]').inner_text() == "paused"
    steps.look("paused")
    page.wait_for_timeout(1500)
    assert int(accepted.inner_text()) == paused_at  # stopped means stopped
    page.get_by_role("button", name="Resume").click()
    page.evaluate("window.deskMarker = 'the same page'")
    page.wait_for_function(
        f"() => document.querySelector('[data-field=accepted]').textContent === '{READERS}' && "
        "document.querySelector('[data-field=status]').textContent === 'sent'",
        timeout=120_000,
    )
    assert page.evaluate("window.deskMarker") == "the same page"  # no reload since Resume
    counts = database.ledger.counts(database.ledger.find_edition(EDITION).id)
    assert counts["accepted"] == READERS and counts["sending"] == counts["deferred"] == 0
    steps.look("sent")


def _stats(page: Any, steps: Steps) -> None:
    page.get_by_role("link", name="Results of this edition").click()
    assert page.locator('[data-stat="sent"]').inner_text() == str(READERS)
    assert page.locator('[data-stat="delivered"]').inner_text() == str(READERS)
    steps.look("edition-stats")
    page.get_by_role("link", name="Stats", exact=True).click()
    assert page.locator("svg.desk-chart").count() == 1
    steps.look("list-stats")


def _subscriber_history(page: Any, steps: Steps) -> None:
    page.get_by_role("link", name="Subscribers", exact=True).click()
    page.get_by_label("Search by address or name").fill("reader42@")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="reader42@example.org").click()
    page.get_by_role("heading", name="Consent history").wait_for()
    history = page.locator("main").inner_text()
    assert "imported" in history and EDITION in history and "accepted" in history
    steps.look("subscriber")


def test_every_other_desk_page_passes_axe_and_fits_a_phone(
    tmp_path: Path, chromium: Any, screenshots: Path
) -> None:
    """The pages the week above does not reach: lists with content, reports, refusals."""
    web = ServerThread()
    settings = desk_settings(
        make_settings(tmp_path, f"sqlite:///{tmp_path / 'newsletter.db'}", base_url=web.url), tmp_path
    )
    settings.digests_dir.mkdir(parents=True)
    (settings.digests_dir / "next-week.yaml").write_bytes(SAMPLE_DIGEST.read_bytes())
    database = open_database(settings, migrate=True)
    add_readers(database, 60)
    store = EditorStore(database.sessions, TEST_MEMORY_KIB)
    store.set_password(store.add("ann").id, PASSWORD)
    csv_file = tmp_path / "list.csv"
    csv_file.write_text("email,name\nnew@example.org,New\nbroken,Bad\n")
    web.start(build_app(settings, database))
    page = chromium.new_page(viewport=DESKTOP)
    steps = Steps(page, screenshots / "pages")
    steps.folder.mkdir(exist_ok=True)
    try:
        page.goto(f"{web.url}/desk/set-password/not-a-real-link")
        steps.look("dead-link")
        page.goto(f"{web.url}/desk/sign-in")
        page.get_by_label("Editor name").fill("ann")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="next-week.yaml").click()
        page.get_by_role("heading", name="Preview").wait_for()
        page.get_by_label("Schedule for").fill("2099-01-01T07:00")
        page.get_by_role("button", name="Schedule").click()
        page.get_by_text("Now scheduled for 2099-01-01").wait_for()
        steps.look("scheduled")
        page.get_by_role("button", name="Cancel for good").click()
        page.locator('[data-field="status"]').get_by_text("cancelled").wait_for()
        steps.look("cancelled")
        page.goto(f"{web.url}/desk/")
        steps.look("editions")
        page.goto(f"{web.url}/desk/subscribers?q=reader")
        steps.look("search")
        page.get_by_label("Import a CSV").set_input_files(str(csv_file))
        page.get_by_role("button", name="Import", exact=True).click()
        page.get_by_role("heading", name="Import of list.csv").wait_for()
        steps.look("import-report")
        page.goto(f"{web.url}/desk/editions/no-such-edition")
        steps.look("not-found")
        page.goto(f"{web.url}/desk/subscribers/1")
        page.get_by_role("button", name="Unsubscribe", exact=True).click()
        page.get_by_label("Resubscribe: why?").fill("x")  # too short: refused, with the reason why
        page.get_by_label("Resubscribe: why?").evaluate("el => el.removeAttribute('minlength')")
        page.get_by_role("button", name="Resubscribe", exact=True).click()
        page.get_by_role("alert").wait_for()
        steps.look("resubscribe-refused")
    finally:
        web.stop()
        database.close()
    assert steps.count == 8
    assert not steps.problems, "\n".join(steps.problems)
