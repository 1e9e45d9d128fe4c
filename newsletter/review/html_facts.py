"""What preflight needs to know about an HTML edition, read in one pass with the standard HTML parser.

The links (address and words), the images (address and alt text), the words a reader sees, the hidden
preheader, and each run of visible text with the colour it is drawn in, the background behind it and its
size. Styles are the inline ones: the edition is CSS-inlined, which is what mail clients read too.
Outlook's conditional comments are comments here, as in every client but Outlook.
"""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser

from newsletter.review.contrast import Rgb, colour_in

VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()  # noqa: SIM905
)
BOLD_TAGS = frozenset({"b", "strong", "h1", "h2", "h3", "h4", "h5", "h6", "th"})
SKIPPED = frozenset({"style", "script", "head", "title"})
DEFAULT_PX = 16.0
BLACK: Rgb = (0, 0, 0)
WHITE: Rgb = (255, 255, 255)


@dataclasses.dataclass(frozen=True)
class Link:
    href: str
    text: str


@dataclasses.dataclass(frozen=True)
class Image:
    src: str
    alt: str | None


@dataclasses.dataclass(frozen=True)
class TextRun:
    colour: Rgb
    background: Rgb
    font_px: float
    bold: bool
    text: str


@dataclasses.dataclass
class HtmlFacts:
    links: list[Link] = dataclasses.field(default_factory=list)
    images: list[Image] = dataclasses.field(default_factory=list)
    runs: list[TextRun] = dataclasses.field(default_factory=list)
    visible: list[str] = dataclasses.field(default_factory=list)
    hidden: list[str] = dataclasses.field(default_factory=list)

    @property
    def visible_text(self) -> str:
        return " ".join(" ".join(self.visible).split())

    @property
    def hidden_text(self) -> str:
        return " ".join(" ".join(self.hidden).split())


@dataclasses.dataclass(frozen=True)
class _Frame:
    tag: str
    colour: Rgb
    background: Rgb
    font_px: float
    bold: bool
    hidden: bool
    skipped: bool


def _style(value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for declaration in (value or "").split(";"):
        name, colon, rest = declaration.partition(":")
        if colon:
            out[name.strip().lower()] = rest.strip().lower()
    return out


def _px(value: str, inherited: float) -> float:
    value = value.removesuffix("!important").strip()
    try:
        if value.endswith("px"):
            return float(value[:-2])
        if value.endswith("pt"):
            return float(value[:-2]) * 4 / 3
        if value.endswith("em"):
            return float(value[:-2]) * inherited
        if value.endswith("%"):
            return float(value[:-1]) / 100 * inherited
    except ValueError:
        return inherited
    return inherited


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = HtmlFacts()
        self.stack = [_Frame("", BLACK, WHITE, DEFAULT_PX, False, False, False)]
        self._link: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        parent = self.stack[-1]
        style = _style(attributes.get("style"))
        colour = colour_in(style.get("color", "")) or parent.colour
        background = (
            colour_in(style.get("background-color", ""))
            or colour_in(style.get("background", ""))
            or colour_in(attributes.get("bgcolor") or "")
            or parent.background
        )
        font_px = _px(style["font-size"], parent.font_px) if "font-size" in style else parent.font_px
        weight = style.get("font-weight", "")
        bold = (tag in BOLD_TAGS or parent.bold or weight in ("bold", "bolder")) and weight != "normal"
        if weight.isdigit():
            bold = int(weight) >= 600
        hidden = parent.hidden or style.get("display", "").startswith("none") or "hidden" in attributes
        frame = _Frame(tag, colour, background, font_px, bold, hidden, parent.skipped or tag in SKIPPED)
        if tag == "a" and not frame.skipped:
            self._link = (attributes.get("href") or "", [])
        if tag == "img" and not frame.skipped:
            self.facts.images.append(Image(attributes.get("src") or "", attributes.get("alt")))
        if tag not in VOID:
            self.stack.append(frame)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            href, words = self._link
            self.facts.links.append(Link(href.strip(), " ".join(" ".join(words).split())))
            self._link = None
        for depth in range(len(self.stack) - 1, 0, -1):  # tolerate unclosed children
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        frame = self.stack[-1]
        if frame.skipped or not data.strip():
            return
        if frame.hidden:
            self.facts.hidden.append(data)
            return
        self.facts.visible.append(data)
        if self._link is not None:
            self._link[1].append(data)
        self.facts.runs.append(TextRun(frame.colour, frame.background, frame.font_px, frame.bold, data))


def read_html(html: str) -> HtmlFacts:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.facts
