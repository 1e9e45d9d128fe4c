"""Screenshots of an edition as phones and desktops draw it, with images blocked and shown.

Debian's chromium, driven by Playwright (never a browser of Playwright's own download). Each shot is
the whole page at 375 px (a phone) and 800 px (a desktop reading pane), once with every image request
refused (as a mail client with images off) and once with images loaded; then one contact sheet shows
the four side by side. Only 127.0.0.1 is reachable from here, so "images shown" shows what can be
fetched; image requests are given a few seconds at most. Playwright is imported here only, so commands
that take no screenshot never pay for it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import html
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import RenderError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Route

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = (375, 800)
IMAGE_TIMEOUT_MS = 5_000


@dataclasses.dataclass(frozen=True)
class Shot:
    path: Path
    width: int
    images: bool
    scroll_width: int  # > width: the page scrolls sideways at this width

    @property
    def label(self) -> str:
        return f"{self.width} px, images {'shown' if self.images else 'blocked'}"


def _block_images(route: Route) -> None:
    if route.request.resource_type == "image":
        route.abort()
    else:
        route.continue_()


def _shot(browser: Browser, page_html: str, path: Path, width: int, images: bool) -> Shot:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": width, "height": 800}, device_scale_factor=1)
    try:
        if not images:
            page.route("**/*", _block_images)
        page.set_default_timeout(IMAGE_TIMEOUT_MS)
        page.set_content(page_html, wait_until="domcontentloaded")
        # An image that never arrives still leaves a page to show.
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_load_state("load", timeout=IMAGE_TIMEOUT_MS)
        scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.close()
    return Shot(path, width, images, scroll_width)


def _sheet_html(shots: list[Shot], title: str) -> str:
    cells = []
    for shot in shots:
        data = base64.b64encode(shot.path.read_bytes()).decode("ascii")
        cells.append(
            f"<figure><figcaption>{html.escape(shot.label)}</figcaption>"
            f'<img alt="{html.escape(shot.label)}" width="{shot.width}" src="data:image/png;base64,{data}">'
            "</figure>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{margin:0;padding:16px;background:#d9d9d9;font:14px Helvetica,Arial,sans-serif;color:#1a1a1a}"
        "h1{font-size:18px;margin:0 0 12px}main{display:flex;gap:16px;align-items:flex-start}"
        "figure{margin:0;background:#fff;padding:8px;box-shadow:0 1px 3px #0003}"
        "figcaption{margin:0 0 6px;font-weight:bold}img{display:block}"
        f"</style></head><body><h1>{html.escape(title)}</h1><main>{''.join(cells)}</main></body></html>"
    )


def write_screenshots(edition_html: str, out: Path, title: str) -> tuple[list[Shot], Path]:
    """The four shots and the contact sheet, as PNG files in ``out``."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RenderError("screenshots need Playwright for Python: pip install playwright") from None
    if not Path(CHROMIUM).exists():
        raise RenderError(f"screenshots need Debian's chromium at {CHROMIUM}: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Shot] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for width in WIDTHS:
                    for images in (False, True):
                        name = f"edition-{width}-images-{'shown' if images else 'blocked'}.png"
                        shots.append(_shot(browser, edition_html, out / name, width, images))
                sheet = out / "contact-sheet.png"
                page = browser.new_page(viewport={"width": sum(WIDTHS) * 2 + 120, "height": 600})
                page.set_content(_sheet_html(shots, title))
                page.screenshot(path=str(sheet), full_page=True)
                page.close()
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise RenderError(f"chromium could not take the screenshots: {exc.message}") from None
    return shots, sheet
