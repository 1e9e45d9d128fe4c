"""Rendering with the real parts: the project's templates, mjml-python and css-inline, no mocks."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from newsletter.config import Settings
from newsletter.edition.digest import Digest, SectionKind, load_digest
from newsletter.edition.render import (
    DEFAULT_TEMPLATES_DIR,
    TEXT_WIDTH,
    RenderedEdition,
    Renderer,
    wrap_text,
)
from newsletter.edition.slots import PER_RECIPIENT_SLOTS, slot_marker
from newsletter.errors import RenderError

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "2011-07-11-weekly-highlights.yaml"
POSTAL = "Burma Partnership\nPO Box 1234, Phra Singh\nChiang Mai 50200, Thailand"
LONG_URL = (
    "https://www.example.org/news/2011/07/a-very-long-article-slug-that-goes-on-and-on?utm_source=nl&x=1"
)
BARE_URL_LINE = re.compile(r"\s*(\[\d+\]\s+)?https?://\S+")


def collapse(text: str) -> str:
    return " ".join(text.split())


def html_text(markup: str) -> str:
    return collapse(html.unescape(markup))


def minimal_digest(**changes: Any) -> Digest:
    data: dict[str, Any] = {
        "newsletter": "Test Weekly",
        "issue": "Issue 1",
        "date": "2024-03-04",
        "title": "A test edition",
        "lead": {"title": "Lead title", "paragraphs": ["First paragraph.", "Second paragraph."]},
        "sections": [{"title": "News", "items": [{"text": "Something happened"}]}],
    }
    data.update(changes)
    return Digest.model_validate(data)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(
        postal_address=POSTAL,
        base_url="https://news.example.org/",
        from_address="Burma Partnership <news@example.org>",
    )


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(DEFAULT_TEMPLATES_DIR)


@pytest.fixture(scope="module")
def sample() -> Digest:
    return load_digest(SAMPLE)


@pytest.fixture(scope="module")
def edition(renderer: Renderer, sample: Digest, settings: Settings) -> RenderedEdition:
    return renderer.render_edition(sample, settings)


def test_every_headline_lead_paragraph_and_section_title_reaches_both_parts(
    sample: Digest, edition: RenderedEdition
) -> None:
    expected = [sample.lead.title, *sample.lead.paragraphs]
    expected += [section.title for section in sample.sections]
    expected += [item.headline for item in sample.all_items()]
    expected += [item.byline for item in sample.all_items() if item.byline]
    expected += [item.source for item in sample.all_items() if item.source]
    page, text = html_text(edition.html), collapse(edition.text)
    assert [e for e in expected if collapse(e) not in page] == []
    assert [e for e in expected if collapse(e) not in text] == []
    assert len(sample.all_items()) >= 40  # the sample really is the whole seed edition


def test_subject_and_preheader_come_from_the_digest(sample: Digest, edition: RenderedEdition) -> None:
    assert edition.subject == sample.title
    assert sample.preheader is not None and edition.preheader == sample.preheader
    assert html.escape(sample.preheader, quote=False) in edition.html


def test_preheader_falls_back_to_the_opening_of_the_lead(renderer: Renderer, settings: Settings) -> None:
    rendered = renderer.render_edition(minimal_digest(), settings)
    assert rendered.preheader.startswith("First paragraph.")


def test_text_lines_fit_72_columns_except_bare_urls_and_slot_lines(edition: RenderedEdition) -> None:
    too_long = [
        line
        for line in edition.text.splitlines()
        if len(line) > TEXT_WIDTH and not BARE_URL_LINE.fullmatch(line) and "__nl_slot_" not in line
    ]
    assert too_long == []


def test_sample_html_stays_far_below_gmail_clipping(edition: RenderedEdition) -> None:
    assert len(edition.html.encode("utf-8")) <= 60_000


def test_html_keeps_the_doctype_and_declares_its_language(edition: RenderedEdition) -> None:
    assert edition.html.lower().startswith("<!doctype html>")
    assert re.search(r"<html[^>]*\blang=\"en\"", edition.html)


def test_phone_media_query_survives_inlining_in_a_style_tag(edition: RenderedEdition) -> None:
    styles = re.findall(r"<style[^>]*>(.*?)</style>", edition.html, flags=re.S)
    phone = [s for s in styles if re.search(r"@media[^{]*max-width:\s*480px", s)]
    assert phone, "no max-width media query left in a <style> tag"
    assert "!important" in phone[0]  # inline styles win without it
    assert "mj-column-per-100" in edition.html  # the columns that stack on a phone


def test_both_slot_markers_appear_in_both_parts(edition: RenderedEdition) -> None:
    for name in PER_RECIPIENT_SLOTS:
        assert slot_marker(name) in edition.html
        assert slot_marker(name) in edition.text
    assert f'href="{slot_marker("unsubscribe_url")}"' in edition.html
    assert f"Hello {slot_marker('name')}," in edition.text


def test_slot_markers_in_text_stand_on_lines_textwrap_never_touched(edition: RenderedEdition) -> None:
    lines = edition.text.splitlines()
    assert slot_marker("unsubscribe_url") in lines
    assert f"Hello {slot_marker('name')}," in lines


def test_postal_address_and_signup_link_appear_in_both_parts(edition: RenderedEdition) -> None:
    for line in POSTAL.splitlines():
        assert line in html_text(edition.html)
        assert line in edition.text.splitlines()
    assert 'href="https://news.example.org/"' in edition.html
    assert "https://news.example.org/" in edition.text.splitlines()


def test_callout_section_is_styled_apart_from_plain_sections(
    renderer: Renderer, sample: Digest, settings: Settings, edition: RenderedEdition
) -> None:
    callouts = [s.title for s in sample.sections if s.kind is SectionKind.callout]
    assert callouts == ["Take Action"]
    start = edition.html.index('class="nl-callout"')
    block = edition.html[start : edition.html.index("</h2>", start)]
    assert "Take Action" in block
    assert "background:#fff4d6" in block.replace(" ", "")
    assert edition.html.count('class="nl-callout"') == 1
    assert "*" * TEXT_WIDTH + "\nTake Action\n" + "*" * TEXT_WIDTH in edition.text

    plain = sample.model_copy(
        update={"sections": tuple(s.model_copy(update={"kind": SectionKind.plain}) for s in sample.sections)}
    )
    rendered = renderer.render_edition(plain, settings)
    assert 'class="nl-callout"' not in rendered.html
    assert "fff4d6" not in rendered.html


def test_markup_in_the_digest_is_escaped_in_html_and_plain_in_text(
    renderer: Renderer, settings: Settings
) -> None:
    title = "Tom & Jerry <script>alert(1)</script>"
    digest = minimal_digest(
        sections=[{"title": "Q&A <b>", "items": [{"title": title, "url": "https://example.org/?a=1&b=2"}]}]
    )
    rendered = renderer.render_edition(digest, settings)
    assert "<script" not in rendered.html.lower()
    assert "<b>" not in rendered.html
    assert "Tom &amp; Jerry &lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert 'href="https://example.org/?a=1&amp;b=2"' in rendered.html
    assert "Q&amp;A &lt;b&gt;" in rendered.html
    assert title in rendered.text
    assert "Q&A <b>" in rendered.text
    assert "[1] https://example.org/?a=1&b=2" in rendered.text.splitlines()


def test_text_links_are_numbered_in_reading_order_and_never_broken(
    renderer: Renderer, settings: Settings
) -> None:
    digest = minimal_digest(
        lead={"title": "Lead", "paragraphs": ["Body."], "url": "https://example.org/lead"},
        sections=[
            {
                "title": "News",
                "items": [
                    {"text": "Long link", "url": LONG_URL, "language": "Burmese"},
                    {"text": "Again the lead", "url": "https://example.org/lead"},
                ],
            }
        ],
    )
    lines = renderer.render_edition(digest, settings).text.splitlines()
    assert "Read the full article [1]" in lines
    assert "* Long link (in Burmese) [2]" in lines
    assert "* Again the lead [1]" in lines
    assert f"[2] {LONG_URL}" in lines
    assert "[1] https://example.org/lead" in lines


def test_wrapping_keeps_urls_and_slot_markers_whole() -> None:
    wrapped = wrap_text(f"Read it at {LONG_URL} today, or reply to {slot_marker('name')} tomorrow " * 3)
    words = wrapped.split()
    assert LONG_URL in words
    assert slot_marker("name") in words
    assert all(len(line) <= TEXT_WIDTH or LONG_URL in line for line in wrapped.splitlines())
    assert "-" not in wrap_text("a-b " * 40).replace("a-b", "")  # hyphens are not break points


def test_nested_related_items_and_item_details_are_rendered(renderer: Renderer, settings: Settings) -> None:
    item = {
        "title": "Parent piece",
        "text": "A description",
        "byline": "A. Writer",
        "source": "The Paper",
        "related": [{"text": "Child note", "related": [{"text": "Grandchild note"}]}],
    }
    rendered = renderer.render_edition(minimal_digest(sections=[{"title": "S", "items": [item]}]), settings)
    assert rendered.html.count('class="nl-related"') == 2
    for words in (
        "Parent piece",
        "A description",
        "By A. Writer",
        "The Paper",
        "Child note",
        "Grandchild note",
    ):
        assert words in html_text(rendered.html)
        assert words in rendered.text
    assert "    - Child note" in rendered.text.splitlines()
    assert "        - Grandchild note" in rendered.text.splitlines()


def test_confirm_email_links_the_confirm_slot_and_says_to_ignore_it_if_unasked(renderer: Renderer) -> None:
    context = {"newsletter": "Test Weekly", "base_url": "https://news.example.org", "postal_address": POSTAL}
    page, text = renderer.render_email("confirm", context)
    marker = slot_marker("confirm_url")
    assert "Confirm your subscription to Test Weekly" in page
    assert "Confirm your subscription to Test Weekly" in text
    assert f'href="{marker}"' in page
    assert marker in text.splitlines()
    assert "did not ask" in page and "did not ask" in text
    assert slot_marker("unsubscribe_url") not in page + text  # nobody is subscribed yet
    assert page.lower().startswith("<!doctype html>")


def test_welcome_email_carries_the_unsubscribe_slot_and_shared_footer(renderer: Renderer) -> None:
    context = {"newsletter": "Test Weekly", "base_url": "https://news.example.org", "postal_address": POSTAL}
    page, text = renderer.render_email("welcome", context)
    assert "Welcome to Test Weekly" in page and "Welcome to Test Weekly" in text
    assert f'href="{slot_marker("unsubscribe_url")}"' in page
    assert slot_marker("unsubscribe_url") in text.splitlines()
    assert "Chiang Mai 50200, Thailand" in page and "Chiang Mai 50200, Thailand" in text


def test_missing_email_variable_is_a_render_error_naming_it(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match="postal_address"):
        renderer.render_email("welcome", {"newsletter": "Test Weekly", "base_url": "https://x.example"})


def test_unknown_email_template_is_a_render_error(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match="not found"):
        renderer.render_email("nonexistent", {})
    with pytest.raises(RenderError):
        renderer.render_email("../secrets", {})


def write_templates(root: Path, mjml: str, text: str = "Custom text {{ digest.title }}\n") -> Path:
    (root / "email").mkdir(parents=True)
    (root / "email" / "edition.mjml.j2").write_text(mjml, encoding="utf-8")
    (root / "email" / "edition.txt.j2").write_text(text, encoding="utf-8")
    return root


def test_custom_templates_dir_is_used_when_given(tmp_path: Path, settings: Settings) -> None:
    mjml = (
        "<mjml><mj-body><mj-section><mj-column><mj-text>Custom {{ digest.title }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    renderer = Renderer(write_templates(tmp_path, mjml))
    rendered = renderer.render_edition(minimal_digest(), settings)
    assert "Custom A test edition" in rendered.html
    assert rendered.text == "Custom text A test edition\n"


def test_custom_template_can_extend_the_built_in_base(tmp_path: Path, settings: Settings) -> None:
    mjml = (
        '{% extends "email/base.mjml.j2" %}{% block content %}<mj-section><mj-column>'
        "<mj-text>Only this</mj-text></mj-column></mj-section>{% endblock %}"
    )
    rendered = Renderer(write_templates(tmp_path, mjml)).render_edition(minimal_digest(), settings)
    assert "Only this" in rendered.html
    assert slot_marker("unsubscribe_url") in rendered.html  # the footer came from the built-in base


def test_template_syntax_error_is_a_render_error_with_file_and_line(
    tmp_path: Path, settings: Settings
) -> None:
    renderer = Renderer(write_templates(tmp_path, "<mjml>\n<mj-body>\n{% if %}\n</mj-body></mjml>"))
    with pytest.raises(RenderError, match=r"edition\.mjml\.j2.*line 3"):
        renderer.render_edition(minimal_digest(), settings)


def test_undefined_variable_in_a_template_is_a_render_error(tmp_path: Path, settings: Settings) -> None:
    renderer = Renderer(write_templates(tmp_path, "<mjml><mj-body>{{ no_such_thing }}</mj-body></mjml>"))
    with pytest.raises(RenderError, match="no_such_thing"):
        renderer.render_edition(minimal_digest(), settings)


def test_invalid_mjml_is_a_render_error(tmp_path: Path, settings: Settings) -> None:
    renderer = Renderer(write_templates(tmp_path, "<mjml><mj-body><mj-section>"))
    with pytest.raises(RenderError, match=r"edition\.mjml\.j2.*MJML"):
        renderer.render_edition(minimal_digest(), settings)


def test_templates_dir_without_email_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="no email/ folder"):
        Renderer(tmp_path)


@pytest.mark.parametrize("name", ["Name", "a__b", "_x", "x_", "x-y", "", "unsubscribe url"])
def test_slot_names_that_could_collide_or_break_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="slot name"):
        slot_marker(name)


def test_slot_marker_is_a_single_word() -> None:
    assert slot_marker("unsubscribe_url") == "__nl_slot_unsubscribe_url__"
    assert re.fullmatch(r"\w+", slot_marker("name"))
