"""Preflight: what is wrong with an edition, in words, before anyone presses send.

``run_preflight(settings, digest)`` renders the edition once for a sample reader and runs every rule on
it: the HTML size against Gmail's clipping, images without alt text, empty, malformed or non-https
links, the unsubscribe link, postal address and preheader, whether the text and HTML editions carry the
same items and links, the contrast of the theme's colours (WCAG AA), and SpamAssassin's content score.
Each finding says where it comes from: a digest field (with its line in the file when the digest was
loaded from one), a setting, or the templates. Errors stop a real send unless it is forced.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.edition.digest import Digest, Item, LocatedDigest, field_name, load_located_digest
from newsletter.edition.render import GMAIL_CLIP_BYTES, Renderer
from newsletter.edition.slots import slot_marker
from newsletter.edition.yaml_lines import Loc
from newsletter.review import spamassassin
from newsletter.review.contrast import contrast_ratio, hex_of, required_ratio
from newsletter.review.findings import Finding, Severity, sorted_findings
from newsletter.review.html_facts import HtmlFacts, read_html
from newsletter.review.sample import PREVIEW_TOKEN, SampleEdition, sample_edition

SIZE_WARNING_BYTES = 80_000
TEMPLATES = "templates"


@dataclasses.dataclass(frozen=True)
class Context:
    """What every rule reads: the digest and its lines, the sample edition, the parsed HTML."""

    settings: Settings
    digest: Digest
    locate: Callable[[Loc], int | None]
    sample: SampleEdition
    html: HtmlFacts
    url_fields: dict[str, Loc]

    def at(self, severity: Severity, rule: str, message: str, loc: Loc | None = None) -> Finding:
        if loc is None:
            return Finding(severity, rule, message)
        return Finding(severity, rule, message, field_name(loc), self.locate(loc))

    def where_url(self, url: str) -> Loc | None:
        return self.url_fields.get(url)


def _no_lines(loc: Loc) -> int | None:
    return None


def _url_fields(digest: Digest) -> dict[str, Loc]:
    out: dict[str, Loc] = {}
    if digest.lead.url is not None:
        out[str(digest.lead.url)] = ("lead", "url")
    for loc, item in _items(digest):
        if item.url is not None:
            out.setdefault(str(item.url), (*loc, "url"))
    return out


def _items(digest: Digest) -> Iterator[tuple[Loc, Item]]:
    def walk(loc: Loc, item: Item) -> Iterator[tuple[Loc, Item]]:
        yield loc, item
        for index, related in enumerate(item.related):
            yield from walk((*loc, "related", index), related)

    for s, section in enumerate(digest.sections):
        for i, item in enumerate(section.items):
            yield from walk(("sections", s, "items", i), item)


def _kb(size: int) -> str:
    return f"{size / 1000:.1f} KB"


def check_size(ctx: Context) -> Iterator[Finding]:
    size = len(ctx.sample.html.encode("utf-8"))
    if size >= GMAIL_CLIP_BYTES:
        yield ctx.at(
            Severity.error,
            "html-size",
            f"the HTML edition is {_kb(size)}: Gmail clips messages over ~{_kb(GMAIL_CLIP_BYTES)} and hides "
            "the rest behind a link, the unsubscribe link included; shorten the edition",
        )
    elif size >= SIZE_WARNING_BYTES:
        yield ctx.at(
            Severity.warning,
            "html-size",
            f"the HTML edition is {_kb(size)}, close to Gmail's clipping size (~{_kb(GMAIL_CLIP_BYTES)})",
        )


def check_images(ctx: Context) -> Iterator[Finding]:
    for image in ctx.html.images:
        if image.alt is None or (image.alt and not image.alt.strip()):
            yield ctx.at(
                Severity.warning,
                "image-alt",
                f"image {image.src or '(no address)'} has no alt text: readers with images off, and screen "
                'readers, get nothing (use alt="" only for decoration)',
                ctx.where_url(image.src),
            )


def _link_problem(href: str) -> tuple[Severity, str] | None:
    if not href or href == "#":
        return Severity.error, "has no address"
    if href.lower().startswith("mailto:"):
        return None if "@" in href else (Severity.error, "is a mailto: link with no address")
    try:
        parts = urlsplit(href)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return Severity.error, "is malformed"
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in href:
        return Severity.error, "is malformed (an absolute https:// address is needed)"
    if parts.scheme == "http":
        return Severity.warning, "is not https: mail clients and browsers flag or block plain http"
    return None


def check_links(ctx: Context) -> Iterator[Finding]:
    base = ctx.settings.base_url.rstrip("/")
    own_http = False
    seen: set[str] = set()
    for link in ctx.html.links:
        if link.href in seen:
            continue
        seen.add(link.href)
        problem = _link_problem(link.href)
        if problem is None:
            continue
        severity, what = problem
        if link.href.startswith(base + "/"):
            own_http = own_http or severity is Severity.warning
            if severity is Severity.warning:
                continue
        words = f" ('{link.text}')" if link.text else ""
        yield ctx.at(
            severity, "links", f"the link {link.href or '(empty)'}{words} {what}", ctx.where_url(link.href)
        )
    if own_http:
        yield Finding(
            Severity.warning,
            "links",
            f"the web app's address {base} is not https: the signup, unsubscribe and view-in-browser links "
            "in every message use it",
            "setting base_url",
        )


def check_required(ctx: Context) -> Iterator[Finding]:
    if not any(PREVIEW_TOKEN in link.href for link in ctx.html.links):
        yield Finding(Severity.error, "unsubscribe", "the HTML edition has no unsubscribe link", TEMPLATES)
    if slot_marker("unsubscribe_url") not in ctx.sample.rendered.text:
        yield Finding(Severity.error, "unsubscribe", "the text edition has no unsubscribe link", TEMPLATES)
    address = ctx.settings.postal_address.strip()
    if not address:
        yield Finding(
            Severity.error,
            "postal-address",
            "no postal address is configured: every message must show the sender's postal address",
            "setting postal_address",
        )
    else:
        text = " ".join(ctx.sample.text.split())
        for line in (" ".join(line.split()) for line in address.splitlines() if line.strip()):
            if line not in ctx.html.visible_text or line not in text:
                edition = "HTML" if line not in ctx.html.visible_text else "text"
                yield Finding(
                    Severity.error,
                    "postal-address",
                    f"the {edition} edition does not show the postal address ('{line}')",
                    TEMPLATES,
                )
                break
    if ctx.digest.preheader is None:
        yield ctx.at(
            Severity.warning,
            "preheader",
            "no preheader: inboxes show the opening words of the lead after the subject instead; write a "
            "'preheader' of 40 to 130 characters",
            ("title",),
        )
    elif " ".join(ctx.sample.rendered.preheader.split()) not in ctx.html.hidden_text:
        yield Finding(Severity.warning, "preheader", "the HTML edition has no hidden preheader", TEMPLATES)


def _text_urls(text: str) -> set[str]:
    urls = set()
    for word in text.split():
        word = word.strip("<>()[],;\"'")
        if word.startswith(("http://", "https://")):
            urls.add(word.rstrip("."))
    return urls


def check_editions_agree(ctx: Context) -> Iterator[Finding]:
    html_words = ctx.html.visible_text
    text_words = " ".join(ctx.sample.text.split())
    headlines: list[tuple[Loc, str]] = [(("lead", "title"), ctx.digest.lead.title)]
    for s, section in enumerate(ctx.digest.sections):
        headlines.append((("sections", s, "title"), section.title))
    headlines += [(loc, item.headline) for loc, item in _items(ctx.digest)]
    for loc, headline in headlines:
        words = " ".join(headline.split())
        missing = [name for name, body in (("HTML", html_words), ("text", text_words)) if words not in body]
        if missing:
            yield ctx.at(
                Severity.error,
                "editions-agree",
                f"'{_short(words)}' is missing from the {missing[0]} edition",
                loc,
            )
    in_html = {
        link.href
        for link in ctx.html.links
        if link.href.startswith(("http://", "https://")) and PREVIEW_TOKEN not in link.href
    }
    in_text = {u for u in _text_urls(ctx.sample.text) if PREVIEW_TOKEN not in u}
    for url in sorted(in_html - in_text):
        yield ctx.at(
            Severity.error,
            "editions-agree",
            f"the link {url} is in the HTML edition only",
            ctx.where_url(url),
        )
    for url in sorted(in_text - in_html):
        yield ctx.at(
            Severity.error,
            "editions-agree",
            f"the link {url} is in the text edition only",
            ctx.where_url(url),
        )


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def check_contrast(ctx: Context) -> Iterator[Finding]:
    worst: dict[tuple[str, str, float], tuple[float, str]] = {}
    for run in ctx.html.runs:
        needed = required_ratio(run.font_px, run.bold)
        ratio = contrast_ratio(run.colour, run.background)
        if ratio < needed:
            key = (hex_of(run.colour), hex_of(run.background), needed)
            worst.setdefault(key, (ratio, " ".join(run.text.split())))
    for (colour, background, needed), (ratio, sample) in worst.items():
        yield Finding(
            Severity.warning,
            "contrast",
            f"text in {colour} on {background} has a contrast of {ratio:.2f}:1, below WCAG AA's {needed:g}:1 "
            f"(e.g. '{_short(sample, 40)}')",
            "theme colours (" + TEMPLATES + ")",
        )


def check_spam(ctx: Context) -> Iterator[Finding]:
    command = ctx.settings.spamassassin_command
    cache = spamassassin.ScoreCache(ctx.settings.cache_dir)
    try:
        report = spamassassin.content_score(ctx.sample.eml, command, cache)
    except spamassassin.SpamAssassinMissing:
        yield Finding(
            Severity.note,
            "spamassassin",
            f"SpamAssassin check skipped: '{command}' is not installed (apt-get install spamassassin)",
        )
        return
    except spamassassin.SpamAssassinFailed as exc:
        yield Finding(Severity.note, "spamassassin", f"SpamAssassin check skipped: {exc}")
        return
    fired = ", ".join(f"{r.name} ({r.points:+.1f}: {r.description})" for r in report.scoring)
    summary = f"SpamAssassin content score {report.score + 0.0:.1f} ({report.required:.1f} is spam)"
    if report.score >= report.required:
        yield Finding(Severity.error, "spamassassin", f"{summary}: {fired}")
    elif report.score > 0:
        yield Finding(Severity.warning, "spamassassin", f"{summary}: {fired}")
    else:
        yield Finding(
            Severity.note, "spamassassin", summary + (f": {fired}" if fired else "; no rule scored")
        )


RULES: tuple[Callable[[Context], Iterator[Finding]], ...] = (
    check_size,
    check_images,
    check_links,
    check_required,
    check_editions_agree,
    check_contrast,
)


@dataclasses.dataclass(frozen=True)
class PreflightTimes:
    rules_seconds: float
    spamassassin_seconds: float


def run_preflight(
    settings: Settings,
    digest: Digest | LocatedDigest | Path,
    *,
    spam_check: bool = True,
    renderer: Renderer | None = None,
    times: list[PreflightTimes] | None = None,
) -> list[Finding]:
    """Every finding for one digest (a file, a loaded digest, or one with its lines), errors first.

    A digest file that does not load raises DigestError, as every loader does; ``spam_check=False``
    leaves SpamAssassin out (a few seconds) for quick checks while editing. ``times``, when given,
    receives how long the rules and SpamAssassin took.
    """
    started = time.perf_counter()
    located = load_located_digest(digest) if isinstance(digest, Path) else digest
    if isinstance(located, LocatedDigest):
        plain, locate = located.digest, located.locate
    else:
        plain, locate = located, _no_lines
    sample = sample_edition(settings, plain, renderer, check=False)
    ctx = Context(settings, plain, locate, sample, read_html(sample.html), _url_fields(plain))
    findings = [finding for rule in RULES for finding in rule(ctx)]
    checked = time.perf_counter()
    if spam_check:
        findings += list(check_spam(ctx))
    if times is not None:
        times.append(PreflightTimes(checked - started, time.perf_counter() - checked))
    return sorted_findings(findings)
