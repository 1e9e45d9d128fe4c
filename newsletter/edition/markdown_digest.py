"""Markdown digests: the format editors already write in, read into the same data as a YAML digest.

The file starts with YAML front matter between ``---`` lines (newsletter, tagline, issue, date, title,
preheader, footer). The body is read with markdown-it (CommonMark), never with regular expressions:

* the lead comes first: an optional ``# Title`` (``# [Title](url)`` to link it), an optional
  ``— Byline`` paragraph, then its paragraphs (without a heading the lead's title is the front
  matter's ``title``);
* each ``## Heading`` starts a section; its entries are list items, and a list inside a block quote
  (``> - …``) makes the section a call-out;
* an entry is ``- text``, ``- [text](url)``, ``- **Title**`` or ``- [**Title**](url)``, optionally
  followed by `` — Byline, *Source*`` (either part alone too); a second paragraph under a titled entry
  is its text, and nested items are its related entries;
* HTML comments (``<!-- … -->``) are notes to the editor and are skipped.

Anything else (a ``###`` heading, a paragraph among a section's entries, a link in the middle of a
sentence that would be lost) is an error naming the file and line. The result is plain data plus a
function giving the line of any field, so the validation in ``digest`` reports lines here too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from newsletter.edition.yaml_lines import Loc, read_yaml, yaml_node_line
from newsletter.errors import DigestError

BYLINE_DASH = "—"
FRONT_MATTER_KEYS = ("newsletter", "tagline", "issue", "date", "title", "preheader", "footer")
BODY_KEYS = ("lead", "sections")
LINK_IN_TEXT = "a link inside a sentence would be lost: link the whole entry, '- [text](url)'"


class _Problem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _line(node: SyntaxTreeNode) -> int:
    """1-based first line of a block node (inline nodes report their block's)."""
    while node.map is None and node.parent is not None:
        node = node.parent
    return node.map[0] + 1 if node.map else 1


def _split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """(front matter, body with the front matter's lines blanked so line numbers stay true, its length)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise DigestError(
            f"{path}: line 1: a Markdown digest starts with YAML front matter between '---' lines "
            "(newsletter, issue, date, title, preheader)"
        )
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            front = "".join(lines[1:index])
            body = "\n" * (index + 1) + "".join(lines[index + 1 :])
            return front, body, index + 1
    raise DigestError(f"{path}: line 1: the front matter is never closed: end it with a '---' line")


def _front_matter(front: str, path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    data, root = read_yaml(front, path, offset=1, what=" in the front matter")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DigestError(f"{path}: line 2: the front matter is a mapping of fields (newsletter, title …)")
    for key in data:
        if key in BODY_KEYS:
            raise DigestError(
                f"{path}: line {_key_line(root, key)}: '{key}' comes from the body (the lead first, then "
                "one '## Heading' per section), not from the front matter"
            )
    return data, root


def _key_line(root: yaml.Node | None, key: str) -> int:
    if isinstance(root, yaml.MappingNode):
        for k, _ in root.value:
            if getattr(k, "value", None) == key:
                return int(k.start_mark.line) + 2
    return 2


def _plain(node: SyntaxTreeNode) -> str:
    """The text of inline nodes, emphasis kept as its words; links and images must be handled first."""
    parts: list[str] = []
    for child in node.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type in ("em", "strong"):
            parts.append(_plain(child))
        elif child.type == "link":
            raise _Problem(_line(node), LINK_IN_TEXT)
        elif child.type == "image":
            raise _Problem(_line(node), "images are not part of a digest entry")
        elif child.type == "html_inline":
            if not child.content.startswith("<!--"):
                raise _Problem(_line(node), f"HTML ({child.content}) is not part of a digest")
        else:
            raise _Problem(_line(node), f"unexpected {child.type} in the text")
    return "".join(parts)


def _inline(block: SyntaxTreeNode) -> SyntaxTreeNode:
    inline = block.children[0] if block.children else None
    if inline is None or inline.type != "inline":
        raise _Problem(_line(block), f"expected text, found {block.type}")
    return inline


Piece = SyntaxTreeNode | str
"""A headline is read as a run of pieces: inline nodes, and plain text as strings (so it can be split)."""


def _plain_of(node: SyntaxTreeNode, line: int) -> str:
    try:
        return _plain(node)
    except _Problem as problem:
        raise _Problem(line, problem.message) from None


def _pieces(inline: SyntaxTreeNode) -> list[Piece]:
    return [c.content if c.type == "text" else c for c in inline.children]


def _significant(pieces: list[Piece]) -> list[Piece]:
    return [p for p in pieces if not (isinstance(p, str) and not p.strip())]


def _text_of(pieces: list[Piece], line: int) -> str:
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif piece.type == "link":
            raise _Problem(line, LINK_IN_TEXT)
        elif piece.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif piece.type == "code_inline":
            out.append(piece.content)
        elif piece.type in ("em", "strong"):
            out.append(_plain_of(piece, line))
        elif piece.type == "html_inline" and piece.content.startswith("<!--"):
            continue
        else:
            raise _Problem(line, f"{piece.type.replace('_', ' ')} is not part of a digest entry")
    return " ".join("".join(out).split())


def _split_byline(pieces: list[Piece]) -> tuple[list[Piece], list[Piece] | None]:
    """Split at the last top-level '—' into (headline, byline part), or (headline, None) without one."""
    for index in range(len(pieces) - 1, -1, -1):
        piece = pieces[index]
        if isinstance(piece, str) and BYLINE_DASH in piece:
            before, _, after = piece.rpartition(BYLINE_DASH)
            return [*pieces[:index], before], [after, *pieces[index + 1 :]]
    return pieces, None


def _byline(tail: list[Piece], line: int) -> dict[str, str]:
    """'Byline, *Source*' / 'Byline' / '*Source*' -> byline and source fields."""
    out: dict[str, str] = {}
    pieces = _significant(tail)
    last = pieces[-1] if pieces else None
    if isinstance(last, SyntaxTreeNode) and last.type == "em":
        out["source"] = _plain_of(last, line).strip()
        pieces = pieces[:-1]
    byline = _text_of(pieces, line).rstrip(",").strip()
    if byline:
        out["byline"] = byline
    if not out:
        raise _Problem(line, f"nothing after '{BYLINE_DASH}': write ' — Byline, *Source*' or drop the dash")
    return out


def _headline(inline: SyntaxTreeNode, line: int) -> dict[str, str]:
    """An entry's first paragraph -> text or title, and url, byline, source where given."""
    head, tail = _split_byline(_pieces(inline))
    out: dict[str, str] = _byline(tail, line) if tail is not None else {}
    pieces = _significant(head)
    if not pieces:
        raise _Problem(line, "an entry needs a headline before its byline")
    only = pieces[0] if len(pieces) == 1 else None
    if isinstance(only, SyntaxTreeNode) and only.type == "link":
        out["url"] = str(only.attrs.get("href", ""))
        pieces = _significant(_pieces(only))
        only = pieces[0] if len(pieces) == 1 else None
    if isinstance(only, SyntaxTreeNode) and only.type == "strong":
        inner = _significant(_pieces(only))
        link = inner[0] if len(inner) == 1 else None
        if isinstance(link, SyntaxTreeNode) and link.type == "link" and "url" not in out:
            out["url"] = str(link.attrs.get("href", ""))
            inner = _pieces(link)
        out["title"] = _text_of(inner, line)
        return out
    if any(isinstance(p, SyntaxTreeNode) and p.type == "strong" for p in pieces):
        raise _Problem(line, "bold marks an entry's title and must cover the whole headline")
    out["text"] = _text_of(pieces, line)
    return out


class _Reader:
    """Walks the body's block tree once, building the lead and sections and a line per field."""

    def __init__(self, fallback_title: object) -> None:
        self.lines: dict[Loc, int] = {}
        self.lead: dict[str, Any] = {"paragraphs": []}
        self.sections: list[dict[str, Any]] = []
        self._fallback_title = fallback_title
        self._seen_heading = False

    def read(self, root: SyntaxTreeNode) -> dict[str, Any]:
        for node in root.children:
            self._block(node)
        if "title" not in self.lead and self._fallback_title is not None:
            self.lead["title"] = self._fallback_title
        return {"lead": self.lead, "sections": self.sections}

    def _block(self, node: SyntaxTreeNode) -> None:
        line = _line(node)
        if node.type == "html_block":
            if not node.content.lstrip().startswith("<!--"):
                raise _Problem(line, "HTML is not part of a digest (comments <!-- --> are fine)")
        elif node.type == "heading":
            self._heading(node, line)
        elif node.type == "paragraph":
            if self.sections:
                raise _Problem(
                    line,
                    f"text under section '{self.sections[-1]['title']}' that is not a list item: "
                    "each entry is a '- ' item",
                )
            self._lead_paragraph(node, line)
        elif node.type in ("bullet_list", "ordered_list", "blockquote"):
            if not self.sections:
                raise _Problem(line, "a list before the first '## Section' heading: put it under a section")
            self._entries(node, line)
        else:
            raise _Problem(line, f"a {node.type.replace('_', ' ')} is not part of a digest")

    def _heading(self, node: SyntaxTreeNode, line: int) -> None:
        inline = _inline(node)
        if node.tag == "h1":
            if self._seen_heading or self.lead["paragraphs"] or self.sections:
                raise _Problem(line, "only the lead has a '#' heading, and it comes first; sections use '##'")
            head = _significant(_pieces(inline))
            only = head[0] if len(head) == 1 else None
            if isinstance(only, SyntaxTreeNode) and only.type == "link":
                self.lead["url"] = str(only.attrs.get("href", ""))
                self.lines[("lead", "url")] = line
                head = _pieces(only)
            self.lead["title"] = _text_of(head, line)
            self.lines[("lead",)] = self.lines[("lead", "title")] = line
        elif node.tag == "h2":
            self.lines[("sections", len(self.sections))] = line
            self.sections.append({"title": _text_of(_pieces(inline), line), "items": []})
        else:
            level = "#" * int(node.tag[1])
            raise _Problem(line, f"a '{level}' heading: sections use '##' and hold list items")
        self._seen_heading = True

    def _lead_paragraph(self, node: SyntaxTreeNode, line: int) -> None:
        inline = _inline(node)
        text = _text_of(_pieces(inline), line)
        paragraphs: list[str] = self.lead["paragraphs"]
        if text.startswith(BYLINE_DASH) and not paragraphs and "byline" not in self.lead:
            self.lead["byline"] = text.removeprefix(BYLINE_DASH).strip()
            self.lines[("lead", "byline")] = line
            return
        self.lines[("lead", "paragraphs", len(paragraphs))] = line
        self.lines.setdefault(("lead",), line)
        paragraphs.append(text)

    def _entries(self, node: SyntaxTreeNode, line: int) -> None:
        section = self.sections[-1]
        index = len(self.sections) - 1
        if node.type == "blockquote":
            lists = [c for c in node.children if c.type in ("bullet_list", "ordered_list")]
            if len(lists) != len(node.children) or not lists:
                raise _Problem(line, "a block quote makes a call-out section and holds only its list items")
            section["kind"] = "callout"
            self.lines[("sections", index, "kind")] = line
        else:
            lists = [node]
        for block in lists:
            for item in block.children:
                loc: Loc = ("sections", index, "items", len(section["items"]))
                section["items"].append(self._item(item, loc))

    def _item(self, node: SyntaxTreeNode, loc: Loc) -> dict[str, Any]:
        line = _line(node)
        self.lines[loc] = line
        paragraphs = [c for c in node.children if c.type == "paragraph"]
        lists = [c for c in node.children if c.type in ("bullet_list", "ordered_list")]
        others = [c for c in node.children if c not in paragraphs and c not in lists]
        if others:
            raise _Problem(_line(others[0]), f"a {others[0].type.replace('_', ' ')} inside an entry")
        if not paragraphs:
            raise _Problem(line, "an empty list item: write the entry's headline after the '-'")
        item: dict[str, Any] = _headline(_inline(paragraphs[0]), line)
        for key in item:
            self.lines[(*loc, key)] = line
        if len(paragraphs) > 2 or (len(paragraphs) == 2 and "title" not in item):
            extra = paragraphs[-1] if len(paragraphs) > 2 else paragraphs[1]
            raise _Problem(_line(extra), "only a titled entry (**Title**) takes a paragraph of text below it")
        if len(paragraphs) == 2:
            item["text"] = _text_of(_pieces(_inline(paragraphs[1])), _line(paragraphs[1]))
            self.lines[(*loc, "text")] = _line(paragraphs[1])
        related: list[dict[str, Any]] = []
        for block in lists:
            for child in block.children:
                related.append(self._item(child, (*loc, "related", len(related))))
        if related:
            item["related"] = related
        return item


def _locator(
    lines: dict[Loc, int], front_root: yaml.Node | None, front_lines: int
) -> Callable[[Loc], int | None]:
    def locate(loc: Loc) -> int | None:
        if loc and loc[0] in FRONT_MATTER_KEYS:
            line = yaml_node_line(front_root, loc)
            return line + 1 if line is not None else None
        for end in range(len(loc), 0, -1):
            if loc[:end] in lines:
                return lines[loc[:end]]
        return front_lines + 1 if loc else 1

    return locate


def markdown_to_data(text: str, path: Path) -> tuple[dict[str, Any], Callable[[Loc], int | None]]:
    """The digest data of a Markdown digest, and the line of each field; DigestError names the line."""
    front, body, front_lines = _split_front_matter(text, path)
    data, front_root = _front_matter(front, path)
    parser = MarkdownIt("commonmark", {"html": True})
    reader = _Reader(data.get("title"))
    try:
        data.update(reader.read(SyntaxTreeNode(parser.parse(body))))
    except _Problem as problem:
        raise DigestError(f"{path}: line {problem.line}: {problem.message}") from None
    return data, _locator(reader.lines, front_root, front_lines)
