"""The digest: the week's content as data, validated before anything is rendered or sent.

A digest is YAML, JSON (the same structure) or Markdown with YAML front matter (``markdown_digest``
turns it into the same data). Validation errors are gathered into one DigestError whose message names
the file, the line (YAML and Markdown always give one; JSON gives one for syntax errors) and the field
path, so the editor can fix every problem in one pass. ``locate_digest`` keeps the lines for later
readers such as preflight, which say where in the file a finding comes from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

from newsletter.edition.yaml_lines import Loc, read_yaml, yaml_node_line
from newsletter.errors import DigestError

MAX_DIGEST_BYTES = 5_000_000
MARKDOWN_SUFFIXES = (".md", ".markdown")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Item(_Model):
    """A headline item: a one-line text, or a titled piece with byline and source."""

    text: str | None = Field(default=None, min_length=1)
    title: str | None = Field(default=None, min_length=1)
    url: HttpUrl | None = None
    byline: str | None = Field(default=None, min_length=1)
    source: str | None = Field(default=None, min_length=1)
    language: str | None = Field(
        default=None, min_length=1, description="e.g. 'Burmese' for a link in Burmese"
    )
    related: tuple[Item, ...] = ()

    @model_validator(mode="after")
    def _has_text_or_title(self) -> Self:
        if self.text is None and self.title is None:
            raise ValueError("an item needs a 'text' or a 'title'")
        return self

    @property
    def headline(self) -> str:
        return self.title or self.text or ""


class SectionKind(StrEnum):
    plain = "plain"
    callout = "callout"


class Section(_Model):
    title: str = Field(min_length=1)
    kind: SectionKind = SectionKind.plain
    items: tuple[Item, ...] = Field(min_length=1)


class Lead(_Model):
    title: str = Field(min_length=1)
    paragraphs: tuple[str, ...] = Field(min_length=1)
    url: HttpUrl | None = None
    byline: str | None = None

    @field_validator("paragraphs")
    @classmethod
    def _no_empty_paragraphs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not p.strip() for p in value):
            raise ValueError("paragraphs must not be empty")
        return value


class Footer(_Model):
    category: str | None = None
    note: str | None = None


class Digest(_Model):
    newsletter: str = Field(min_length=1)
    tagline: str | None = None
    issue: str = Field(min_length=1)
    date: dt.date
    title: str = Field(min_length=1, max_length=200)
    preheader: str | None = Field(default=None, max_length=200)
    lead: Lead
    sections: tuple[Section, ...] = ()
    footer: Footer = Footer()

    @field_validator("title")
    @classmethod
    def _single_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("the title becomes the Subject header and must be one line")
        return value

    def all_items(self) -> list[Item]:
        """Every item, related ones included, in reading order."""
        out: list[Item] = []
        stack: list[Item]
        for section in self.sections:
            for item in section.items:
                stack = [item]
                while stack:
                    current = stack.pop(0)
                    out.append(current)
                    stack[0:0] = list(current.related)
        return out


def edition_key(digest: Digest) -> str:
    """``2011-07-11-weekly-highlights``: the stable name of an edition (ledger, Message-IDs, archive URL)."""
    slug = re.sub(r"[^a-z0-9]+", "-", digest.issue.lower()).strip("-")[:80] or "edition"
    return f"{digest.date.isoformat()}-{slug}"


def field_name(loc: Loc) -> str:
    """``sections[7].items[0].url`` for ("sections", 7, "items", 0, "url")."""
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[") or "(top)"


def yaml_locator(root: yaml.Node | None, offset: int = 0) -> Callable[[Loc], int | None]:
    """Lines of fields in a YAML text that starts ``offset`` lines into its file (front matter: 1)."""

    def locate(loc: Loc) -> int | None:
        line = yaml_node_line(root, loc)
        return line + offset if line is not None else None

    return locate


def _no_lines(loc: Loc) -> int | None:
    return None


def _format_errors(path: Path, exc: ValidationError, locate: Callable[[Loc], int | None]) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s) in the digest:"]
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = locate(loc)
        where = f"line {line}, " if line else ""
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}{field_name(loc)}: {message}")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class LocatedDigest:
    """A validated digest and where its fields are in the file it came from (None where unknown)."""

    digest: Digest
    path: Path
    locate: Callable[[Loc], int | None]


def _parse_data(text: str, path: Path) -> tuple[Any, Callable[[Loc], int | None]]:
    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        from newsletter.edition.markdown_digest import markdown_to_data  # markdown-it only when needed

        return markdown_to_data(text, path)
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text), _no_lines
        except json.JSONDecodeError as exc:
            raise DigestError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    data, root = read_yaml(text, path)
    return data, yaml_locator(root)


def locate_digest(text: str, path: Path) -> LocatedDigest:
    """Validate digest text; ``path`` names the source in messages and picks the format by its suffix."""
    data, locate = _parse_data(text, path)
    if not isinstance(data, dict):
        raise DigestError(f"{path}: a digest is a mapping of fields (newsletter, title, lead, sections …)")
    try:
        return LocatedDigest(Digest.model_validate(data), path, locate)
    except ValidationError as exc:
        raise DigestError(_format_errors(path, exc, locate)) from None


def parse_digest(text: str, path: Path) -> Digest:
    return locate_digest(text, path).digest


def read_digest_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DigestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_DIGEST_BYTES:
        raise DigestError(f"{path}: {len(raw)} bytes is too large for a digest (limit {MAX_DIGEST_BYTES})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DigestError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def load_located_digest(path: Path) -> LocatedDigest:
    return locate_digest(read_digest_text(path), path)


def load_digest(path: Path) -> Digest:
    return load_located_digest(path).digest
