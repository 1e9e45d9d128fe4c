"""css-inline against premailer (the inliner the design named) on the seed edition: time, and the result.

Both inline the same MJML output (Jinja + mjml-python, before inlining), each configured as a careful
user would: keep the <style> blocks (the phone media query cannot be inlined), never fetch remote
stylesheets, and for premailer keep ``!important`` (DESIGN.md: without it the phone layout breaks).
Time is the median of N runs in this process. Then Debian's chromium (through Playwright) renders both
results at 375 and 800 px; the full-page screenshots are compared pixel by pixel.

    python bench/bench_css_inline.py [--runs N] [--keep DIR]

``--keep DIR`` writes the four screenshots and the two HTML files there, to look at.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import css_inline  # noqa: E402
from bench_render import median_ms, mjml_context  # noqa: E402  (bench/ is on the path: this script's folder)
from PIL import Image, ImageChops  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from premailer import Premailer  # noqa: E402

from newsletter.config import Settings  # noqa: E402
from newsletter.edition.digest import load_digest  # noqa: E402
from newsletter.edition.render import DEFAULT_TEMPLATES_DIR, Renderer, compile_mjml  # noqa: E402
from tests.support.services import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

SAMPLE = ROOT / "samples" / "2011-07-11-weekly-highlights.yaml"
WIDTHS = (375, 800)


def mjml_output() -> str:
    """The seed edition as mjml-python leaves it: what the inliner is handed."""
    digest = load_digest(SAMPLE)
    settings = Settings(postal_address="PO Box 1234, Chiang Mai", base_url="https://news.example.org")
    renderer = Renderer(DEFAULT_TEMPLATES_DIR)
    edition = renderer.render_edition(digest, settings)
    context = mjml_context(digest, settings, edition.preheader)
    source = renderer.env.get_template("email/edition.mjml.j2").render(context)
    return compile_mjml(source, "email/edition.mjml.j2")


def with_premailer(html: str) -> str:
    return str(
        Premailer(
            html,
            keep_style_tags=True,
            strip_important=False,
            allow_network=False,
            cssutils_logging_level=logging.CRITICAL,
        ).transform()
    )


def screenshots(pages: dict[str, str]) -> dict[tuple[str, int], Image.Image]:
    shots = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.route("**/*", lambda route: route.abort())  # nothing leaves the machine
                for name, html in pages.items():
                    page.set_content(html, wait_until="load")
                    shot = page.screenshot(full_page=True)
                    shots[(name, width)] = Image.open(io.BytesIO(shot)).convert("RGB")
                page.close()
        finally:
            browser.close()
    return shots


def differing_pixels(a: Image.Image, b: Image.Image) -> tuple[int, int]:
    """(pixels that differ, pixels compared); a height difference counts every pixel of the extra rows."""
    width, height = max(a.width, b.width), max(a.height, b.height)
    canvas_a, canvas_b = Image.new("RGB", (width, height)), Image.new("RGB", (width, height))
    canvas_a.paste(a)
    canvas_b.paste(b)
    mask = ImageChops.difference(canvas_a, canvas_b).convert("L").point(lambda v: 255 if v else 0)
    return mask.histogram()[255], width * height


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="write screenshots and HTML here")
    args = parser.parse_args()

    html = mjml_output()
    inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
    ours = inliner.inline(html)
    theirs = with_premailer(html)
    # premailer drops <!doctype html> (the page then renders in quirks mode); a careful user puts it back.
    mended = "<!doctype html>\n" + theirs
    ours_ms = median_ms(lambda: inliner.inline(html), args.runs)
    theirs_ms = median_ms(lambda: with_premailer(html), args.runs)

    print(f"seed edition, MJML output {len(html) / 1000:.1f} KB; median of {args.runs} runs")
    print(f"  css-inline  {ours_ms:7.2f} ms   output {len(ours) / 1000:.1f} KB")
    print(f"  premailer   {theirs_ms:7.2f} ms   output {len(theirs) / 1000:.1f} KB")
    print(f"  css-inline is {theirs_ms / ours_ms:.1f}x faster")
    for name, out in (("css-inline", ours), ("premailer", theirs)):
        doctype = out.lstrip()[:15].lower() == "<!doctype html>"
        print(f"  {name}: <!doctype html> kept: {doctype}; @media kept: {'@media' in out}")

    shots = screenshots({"css-inline": ours, "premailer": theirs, "premailer+doctype": mended})
    for other in ("premailer", "premailer+doctype"):
        for width in WIDTHS:
            a, b = shots[("css-inline", width)], shots[(other, width)]
            differ, total = differing_pixels(a, b)
            share = f"{differ:,} of {total:,} pixels differ ({differ / total:.2%})"
            same = "identical" if not differ else share
            print(f"  Chromium {width} px, css-inline vs {other}: height {a.height} vs {b.height}: {same}")

    folder = args.keep or Path(tempfile.mkdtemp(prefix="css-inline-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "css-inline.html").write_text(ours)
    (folder / "premailer.html").write_text(theirs)
    (folder / "premailer+doctype.html").write_text(mended)
    for (name, width), image in shots.items():
        image.save(folder / f"{name}-{width}.png")
    print(f"  screenshots and HTML in {folder}")


if __name__ == "__main__":
    main()
