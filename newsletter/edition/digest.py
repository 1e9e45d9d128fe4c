"""The digest: the week's content as data, validated before anything is rendered or sent.

A digest is YAML or JSON (the same structure). Validation errors are gathered into one DigestError whose
message names the file, the line (YAML always gives one; JSON gives one for syntax errors) and the field
path, so the editor can fix every problem in one pass.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

from newsletter.errors import DigestError

# libyaml's parser when PyYAML was built with it: the same documents, 20 times faster than pure Python.
try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader  # type: ignore[assignment]

MAX_DIGEST_BYTES = 5_000_000


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


def _yaml_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Line (1-based) of the node at ``loc`` in a composed YAML tree, or of its nearest existing parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _format_errors(path: Path, exc: ValidationError, root: yaml.Node | None) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s) in the digest:"]
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        field = (
            ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[") or "(top)"
        )
        line = _yaml_line(root, loc) if root is not None else None
        where = f"line {line}, " if line else ""
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}{field}: {message}")
    return "\n".join(lines)


def parse_digest(text: str, path: Path) -> Digest:
    """Validate digest text; ``path`` only names the source in messages and picks the format."""
    root: yaml.Node | None = None
    data: Any
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DigestError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    else:
        try:
            data = yaml.load(text, Loader=SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise DigestError(f"{path}: {where}not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise DigestError(f"{path}: a digest is a mapping of fields (newsletter, title, lead, sections …)")
    try:
        return Digest.model_validate(data)
    except ValidationError as exc:
        if path.suffix.lower() != ".json":  # the node tree, for line numbers, only when they are needed
            root = yaml.compose(text, Loader=SafeLoader)
        raise DigestError(_format_errors(path, exc, root)) from None


def load_digest(path: Path) -> Digest:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DigestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_DIGEST_BYTES:
        raise DigestError(f"{path}: {len(raw)} bytes is too large for a digest (limit {MAX_DIGEST_BYTES})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DigestError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_digest(text, path)
