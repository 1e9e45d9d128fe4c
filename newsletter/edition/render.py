"""Turn a digest into the subject, HTML and plain-text bodies of one edition, once per send.

Rendering (Jinja → MJML → HTML → inlined CSS) costs milliseconds, so it runs once per edition, never per
recipient. What differs per recipient is left in the output as a slot marker, ``__nl_slot_<name>__``, that
personalisation fills with a plain string replace in pre-encoded bytes. Markers are made of ASCII letters,
digits and underscores only, because such a word passes unchanged through Jinja's autoescaping, the MJML
compiler, the CSS inliner's HTML serialiser (inside ``href`` attributes too) and ``textwrap``.

The plain-text edition is rendered from the same digest data with its own template (not by stripping the
HTML), so it has real structure: wrapped at 72 columns, numbered link references, URLs never broken.

Library errors never reach the user as tracebacks: Jinja, MJML and CSS inlining failures all become a
``RenderError`` naming the template (and line, where Jinja knows it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import textwrap
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Final

import jinja2
from jinja2.runtime import Context

from newsletter.config import PROJECT_ROOT, Settings
from newsletter.edition.digest import Digest, edition_key
from newsletter.edition.slots import archive_url, slot_marker
from newsletter.errors import RenderError

if TYPE_CHECKING:
    import css_inline

TEXT_WIDTH: Final = 72
DEFAULT_TEMPLATES_DIR: Final = PROJECT_ROOT / "templates"
DEFAULT_LANG: Final = "en"
GMAIL_CLIP_BYTES: Final = 102_000
"""Gmail hides everything after this many bytes of HTML, the unsubscribe footer included."""

_EMAIL_NAME = re.compile(r"[a-z][a-z0-9_]*")
_UNBREAKABLE = re.compile(r"://|^mailto:|__nl_slot_", re.IGNORECASE)
_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True)
class RenderedEdition:
    """The once-per-send output: final inlined HTML (doctype kept) and plain text, both still with slots."""

    subject: str
    preheader: str
    html: str
    text: str


class _TextWrapper(textwrap.TextWrapper):
    """A wrapper that never splits a URL or a slot marker: a broken link is worse than a long line.

    Other over-long words (e.g. long runs of scripts written without spaces) are still broken, so they
    cannot push a line past the width.
    """

    def _handle_long_word(
        self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int
    ) -> None:
        if _UNBREAKABLE.search(reversed_chunks[-1]):
            if not cur_line:
                cur_line.append(reversed_chunks.pop())
            return
        super()._handle_long_word(reversed_chunks, cur_line, cur_len, width)


def wrap_text(text: str, width: int = TEXT_WIDTH, first: str = "", rest: str | None = None) -> str:
    """Wrap prose to ``width`` columns; blank-line-separated paragraphs stay separate.

    ``first`` prefixes the first line (e.g. a bullet), ``rest`` the others (default: spaces of the same
    width, giving a hanging indent). Hyphens are not break points, or URLs would be split at them.
    """
    text = str(text)
    if len(first) + len(text) <= width and " ".join(text.split()) == text:
        return first + text  # fast path: most headlines fit; textwrap costs ~50 µs a call
    wrapper = _TextWrapper(
        width=width,
        initial_indent=first,
        subsequent_indent=" " * len(first) if rest is None else rest,
        break_on_hyphens=False,
    )
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n\n".join(wrapper.fill(p) for p in paragraphs)


def heading(text: str, char: str = "-", over: bool = False) -> str:
    """A wrapped title underlined to the length of its longest line; ``over`` boxes it in full-width rules."""
    body = wrap_text(text)
    longest = max((len(line) for line in body.splitlines()), default=0)
    rule = char * (TEXT_WIDTH if over else min(TEXT_WIDTH, longest))
    return f"{rule}\n{body}\n{rule}" if over else f"{body}\n{rule}"


def long_date(value: dt.date) -> str:
    """'11 July 2011', independent of the process locale (strftime's %B is not)."""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


@jinja2.pass_context
def link_ref(context: Context, url: object) -> int:
    """The number of ``url`` in the text edition's link list (the renderer numbers them in reading order)."""
    numbers: Mapping[str, int] = context["link_numbers"]
    return numbers[str(url)]


def _where(exc: BaseException) -> str:
    """'file, line N' of the innermost template frame of a Jinja error, or '' when there is none."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name}, line {exc.lineno}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"{frame.filename}, line {frame.lineno}"
    return ""


def compile_mjml(source: str, template: str) -> str:
    """MJML → HTML with mjml-python (MRML): ~1 ms instead of ~30 ms for Node's mjml.

    ``fonts={}``: no web-font <link> is emitted, so opening the email fetches nothing from Google.
    """
    import mjml  # here, not at the top: the web app's start-up and the desk's pages do not compile MJML

    try:
        html: str = mjml.mjml2html(source, disable_comments=True, fonts={})
    except ValueError as exc:
        raise RenderError(f"{template}: the MJML it produced does not compile: {exc}") from exc
    return html


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates between runs (compiling them costs more than rendering).

    Keyed by template file and checked against its source, so an edited template is compiled afresh.
    A cache that cannot be written (a read-only or full disk) is no cache, not a failed render."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    try:
        return _QuietBytecodeCache()  # in Jinja's private per-user folder under the temp directory
    except (OSError, RuntimeError):
        return None


class Renderer:
    """Renders editions and transactional emails from one templates directory.

    One Jinja environment per renderer, so compiled templates are reused for every edition and email.
    ``templates_dir`` (normally ``Settings.templates_dir``) holds ``email/…``; an editor's own directory
    may override only some templates: the rest (e.g. ``email/base.mjml.j2``) come from the built-in set.
    """

    def __init__(self, templates_dir: Path) -> None:
        if not (templates_dir / "email").is_dir():
            raise RenderError(f"templates directory {templates_dir} has no email/ folder")
        search = [templates_dir]
        if templates_dir.resolve() != DEFAULT_TEMPLATES_DIR.resolve():
            search.append(DEFAULT_TEMPLATES_DIR)
        self.templates_dir = templates_dir
        self._search = tuple(search)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            # Escape everything except plain text: an unknown kind of template is safer escaped.
            autoescape=jinja2.select_autoescape(
                disabled_extensions=("txt.j2", "txt"), default=True, default_for_string=True
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            bytecode_cache=_bytecode_cache(),
        )
        self.env.globals["slot"] = slot_marker
        self.env.filters.update(wrap=wrap_text, heading=heading, longdate=long_date, ref=link_ref)

    @cached_property
    def _inliner(self) -> css_inline.CSSInliner:
        """Built at the first render, so that ``serve`` starts without importing css-inline."""
        import css_inline

        # keep_style_tags: the phone media query cannot be inlined and must stay in <style>;
        # no remote loading: rendering must not depend on (or leak to) the network.
        return css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)

    def render_edition(
        self, digest: Digest, settings: Settings, *, web_copy: bool = False
    ) -> RenderedEdition:
        """The edition as mailed, or with ``web_copy`` the archive's copy, which carries no personal slot.

        Every mailed edition links to its web copy (``view_url``); that copy is the same for every reader,
        so the link needs no per-recipient signature.
        """
        base_url = settings.base_url.rstrip("/")
        links: list[str] = []
        for url in [digest.lead.url, *(item.url for item in digest.all_items())]:
            if url is not None and str(url) not in links:
                links.append(str(url))
        preheader = digest.preheader or textwrap.shorten(digest.lead.paragraphs[0], 150, placeholder=" …")
        context: dict[str, object] = {
            "digest": digest,
            "newsletter": digest.newsletter,
            "tagline": digest.tagline,
            "preheader": preheader,
            "lang": DEFAULT_LANG,
            "base_url": base_url,
            "signup_url": f"{base_url}/",
            "view_url": archive_url(base_url, edition_key(digest)),
            "web_copy": web_copy,
            "postal_address": settings.postal_address,
            "links": links,
            "link_numbers": {url: number for number, url in enumerate(links, start=1)},
        }
        return RenderedEdition(
            subject=digest.title,
            preheader=preheader,
            html=self._html("email/edition.mjml.j2", context),
            text=self._text("email/edition.txt.j2", context),
        )

    def render_email(self, name: str, context: Mapping[str, object]) -> tuple[str, str]:
        """(html, text) of a transactional email such as "confirm" or "welcome".

        ``context`` supplies what the templates name (newsletter, base_url, postal_address …); a missing
        variable is a RenderError naming it. Per-recipient values stay slots (e.g. ``confirm_url``).
        """
        if not _EMAIL_NAME.fullmatch(name):
            raise RenderError(f"{name!r} is not an email template name")
        full = {"lang": DEFAULT_LANG, **context}
        return self._html(f"email/{name}.mjml.j2", full), self._text(f"email/{name}.txt.j2", full)

    def _jinja(self, template: str, context: Mapping[str, object]) -> str:
        try:
            return self.env.get_template(template).render(context)
        except jinja2.TemplateNotFound as exc:
            searched = ", ".join(str(p) for p in self._search)
            raise RenderError(f"template {exc.name} not found (searched {searched})") from exc
        # An editor's template can raise anything; the user gets a message, not a traceback.
        except Exception as exc:
            where = _where(exc)
            kind = "" if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: "
            message = getattr(exc, "message", None) or str(exc)
            located = f"{template} ({where})" if where else template
            raise RenderError(f"{located}: {kind}{message}") from exc

    def _html(self, template: str, context: Mapping[str, object]) -> str:
        html = compile_mjml(self._jinja(template, context), template)
        try:
            html = self._inliner.inline(html)
        except ValueError as exc:  # css_inline.InlineError subclasses ValueError
            raise RenderError(f"{template}: CSS inlining failed: {exc}") from exc
        if not html.lstrip()[:15].lower() == "<!doctype html>":
            raise RenderError(
                f"{template}: the HTML lost its <!doctype html>; clients would render it in quirks mode"
            )
        return html

    def _text(self, template: str, context: Mapping[str, object]) -> str:
        """Render, then tidy what template whitespace control leaves: trailing spaces, runs of blank lines."""
        text = self._jinja(template, context)
        lines = [line.rstrip() for line in text.splitlines()]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
