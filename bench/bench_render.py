"""How long one edition takes to render, and how big its HTML is: the figures behind "render once".

Rendering runs once per send, so its cost only matters against the per-recipient work it saves; the size
matters for every recipient, and Gmail clips HTML over ~100 KB (hiding the unsubscribe footer).

    python bench/bench_render.py [DIGEST] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.config import Settings  # noqa: E402
from newsletter.edition.digest import Digest, load_digest  # noqa: E402
from newsletter.edition.render import DEFAULT_TEMPLATES_DIR, GMAIL_CLIP_BYTES, Renderer, compile_mjml  # noqa: E402

SAMPLE = ROOT / "samples" / "2011-07-11-weekly-highlights.yaml"


def median_ms(run: Callable[[], object], runs: int) -> float:
    run()  # warm-up: template compilation and first-call costs are not what a send pays per edition
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000


def mjml_context(digest: Digest, settings: Settings, preheader: str) -> dict[str, object]:
    """What render_edition hands the MJML template (without the link list), to time the steps one by one."""
    return {
        "digest": digest, "newsletter": digest.newsletter, "tagline": digest.tagline,
        "preheader": preheader, "lang": "en", "base_url": settings.base_url,
        "signup_url": settings.base_url + "/", "postal_address": settings.postal_address,
        "links": [], "link_numbers": {},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("digest", nargs="?", type=Path, default=SAMPLE)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    digest = load_digest(args.digest)
    settings = Settings(
        postal_address="PO Box 1234\nChiang Mai 50200, Thailand", base_url="https://news.example.org"
    )
    renderer = Renderer(DEFAULT_TEMPLATES_DIR)
    edition = renderer.render_edition(digest, settings)
    size = len(edition.html.encode("utf-8"))

    template = renderer.env.get_template("email/edition.mjml.j2")
    context = mjml_context(digest, settings, edition.preheader)
    source = template.render(context)
    compiled = compile_mjml(source, "email/edition.mjml.j2")

    total = median_ms(lambda: renderer.render_edition(digest, settings), args.runs)
    jinja = median_ms(lambda: template.render(context), args.runs)
    mjml = median_ms(lambda: compile_mjml(source, "email/edition.mjml.j2"), args.runs)
    inline = median_ms(lambda: renderer._inliner.inline(compiled), args.runs)

    print(f"digest: {args.digest.name} ({len(digest.all_items())} items), {args.runs} runs, medians")
    print(f"render_edition (Jinja HTML+text, MJML, CSS inlining): {total:6.2f} ms")
    print(f"  Jinja -> MJML source:   {jinja:6.2f} ms")
    print(f"  MJML -> HTML (mrml):    {mjml:6.2f} ms")
    print(f"  CSS inlining:           {inline:6.2f} ms")
    print(f"HTML size: {size / 1000:.1f} KB ({size} bytes; Gmail clips at ~{GMAIL_CLIP_BYTES // 1000} KB)")
    print(f"text size: {len(edition.text.encode('utf-8')) / 1000:.1f} KB")


if __name__ == "__main__":
    main()
