"""Markdown digests: the same Digest as YAML, and every mistake named by its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.edition.digest import load_digest, load_located_digest, parse_digest
from newsletter.errors import DigestError
from tests.conftest import ROOT, SAMPLE_DIGEST

SAMPLE_MARKDOWN = ROOT / "samples" / "2011-07-11-weekly-highlights.md"
FRONT = """---
newsletter: Test News
issue: Weekly
date: '2026-12-07'
title: A subject
preheader: What this week is about, in one sentence for the inbox.
---
"""


def md(body: str) -> str:
    return FRONT + body


def test_the_seed_in_markdown_is_the_same_digest_as_in_yaml() -> None:
    assert load_digest(SAMPLE_MARKDOWN) == load_digest(SAMPLE_DIGEST)


def test_entries_links_titles_bylines_related_and_callouts() -> None:
    digest = parse_digest(
        md(
            "# [The lead](https://example.org/lead)\n\n— Ann Editor\n\nFirst paragraph\nwrapped.\n\n"
            "## News\n\n- [A story](https://example.org/a)\n  - A related one\n"
            "- **A titled piece** — Bo Writer, *The Paper*\n\n  Its text.\n\n"
            "## Act\n\n> - [Sign](https://example.org/sign)\n"
        ),
        Path("d.md"),
    )
    assert digest.lead.title == "The lead" and str(digest.lead.url) == "https://example.org/lead"
    assert digest.lead.byline == "Ann Editor" and digest.lead.paragraphs == ("First paragraph wrapped.",)
    news, act = digest.sections
    assert news.items[0].text == "A story" and str(news.items[0].url) == "https://example.org/a"
    assert news.items[0].related[0].text == "A related one"
    titled = news.items[1]
    assert (titled.title, titled.byline, titled.source, titled.text) == (
        "A titled piece", "Bo Writer", "The Paper", "Its text."
    )  # fmt: skip
    assert act.kind == "callout" and act.items[0].text == "Sign"


def test_without_a_heading_the_lead_takes_the_subject_as_its_title() -> None:
    digest = parse_digest(md("Just a paragraph.\n\n## S\n\n- item\n"), Path("d.md"))
    assert digest.lead.title == "A subject"


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("# Lead\n\ntext\n\n## S\n\nA stray paragraph.\n", 14, "not a list item"),
        ("# Lead\n\ntext\n\n### Deep\n", 12, "'###' heading"),
        ("# Lead\n\n- a list too early\n", 10, "before the first '## Section'"),
        ("# Lead\n\nSee [this](https://x.org) here.\n", 10, "link inside a sentence"),
        ("# Lead\n\ntext\n\n## S\n\n- **Bold** and more\n", 14, "bold marks an entry's title"),
        ("# Lead\n\ntext\n\n## S\n\n- [x](ftp://example.org)\n", 14, "URL scheme"),
        ("# Lead\n\ntext\n\n## S\n\n- A —\n", 14, "nothing after '—'"),
        ("# Lead\n\ntext\n\n## S\n\n<div>raw</div>\n", 14, "HTML is not part"),
        ("# Lead\n\ntext\n\n## Empty\n", 12, "sections[0].items"),
        ("# Lead\n\ntext\n\n## S\n\n- a\n\n# Again\n", 16, "only the lead has a '#' heading"),
    ],
)
def test_every_mistake_names_its_line(body: str, line: int, words: str) -> None:
    with pytest.raises(DigestError) as raised:
        parse_digest(md(body), Path("week.md"))
    message = str(raised.value)
    assert message.startswith("week.md:") and f"line {line}" in message and words in message, message


def test_front_matter_mistakes_name_their_line() -> None:
    with pytest.raises(DigestError, match=r"line 4, date: Input should be a valid date"):
        parse_digest(FRONT.replace("'2026-12-07'", "'next week'") + "# L\n\ntext\n", Path("d.md"))
    with pytest.raises(DigestError, match=r"line 1: a Markdown digest starts with YAML front matter"):
        parse_digest("# No front matter\n", Path("d.md"))
    with pytest.raises(DigestError, match=r"line 3: 'sections' comes from the body"):
        parse_digest(FRONT.replace("---\n", "---\n# a comment\nsections: []\n", 1), Path("d.md"))


def test_located_digest_knows_the_line_of_an_entry() -> None:
    located = load_located_digest(SAMPLE_MARKDOWN)
    text = SAMPLE_MARKDOWN.read_text().splitlines()
    line = located.locate(("sections", 7, "items", 0))
    assert line is not None and "Rethinking Japan" in text[line - 1]
