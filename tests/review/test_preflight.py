"""Preflight: each rule fires on a digest (or theme) built to break it, and the seed edition is clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.edition.digest import Digest, load_located_digest
from newsletter.review.findings import Finding, Severity
from newsletter.review.preflight import run_preflight
from newsletter.review.spamassassin import parse_report
from tests.conftest import ROOT, SAMPLE_DIGEST, make_settings
from tests.support.services import unavailable

SAMPLE_MARKDOWN = ROOT / "samples" / "2011-07-11-weekly-highlights.md"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is not Severity.note]


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in problems(findings)}


def own_templates(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A templates folder with one built-in email template changed."""
    folder = tmp_path / "own"
    (folder / "email").mkdir(parents=True)
    source = (ROOT / "templates" / "email" / name).read_text()
    assert old in source
    (folder / "email" / name).write_text(source.replace(old, new))
    return folder


def test_the_seed_edition_is_clean(settings: Settings) -> None:
    for path in (SAMPLE_DIGEST, SAMPLE_MARKDOWN):
        assert problems(run_preflight(settings, path, spam_check=False)) == []


def test_the_seed_edition_scores_zero_in_spamassassin(settings: Settings) -> None:
    if shutil.which("spamassassin") is None:
        unavailable("Debian's spamassassin is not installed")
    findings = run_preflight(settings, SAMPLE_DIGEST)
    spam = [f for f in findings if f.rule == "spamassassin"]
    assert problems(findings) == [] and len(spam) == 1
    assert spam[0].message.startswith("SpamAssassin content score 0.0 "), spam[0].message


def test_spamassassin_rules_that_fire_are_reported(settings: Settings, sample_digest: Digest) -> None:
    if shutil.which("spamassassin") is None:
        unavailable("Debian's spamassassin is not installed")
    shouting = sample_digest.model_copy(update={"title": "FREE MONEY!!! CLICK HERE NOW $$$ 100% GUARANTEED"})
    spam = [f for f in run_preflight(settings, shouting) if f.rule == "spamassassin"]
    assert spam[0].severity in (Severity.warning, Severity.error) and "(+" in spam[0].message


def test_without_spamassassin_the_check_says_it_was_skipped(settings: Settings) -> None:
    missing = settings.replace(spamassassin_command="/nonexistent/spamassassin")
    spam = [f for f in run_preflight(missing, SAMPLE_DIGEST) if f.rule == "spamassassin"]
    assert spam == [Finding(Severity.note, "spamassassin", spam[0].message)]
    assert "skipped" in spam[0].message and "not installed" in spam[0].message


def test_the_report_parser_reads_scores_and_wrapped_descriptions() -> None:
    report = parse_report(
        "Content analysis details:   (0.7 points, 5.0 required)\n\n"
        " pts rule name              description\n"
        "---- ---------------------- --------------------------------------------------\n"
        "-0.0 NO_RELAYS              Informational: message was not relayed via SMTP\n"
        " 0.7 HTML_FONT_LOW_CONTRAST BODY: HTML font color similar or identical to\n"
        "                            background\n"
    )
    assert (report.score, report.required) == (0.7, 5.0)
    assert [(r.name, r.points) for r in report.scoring] == [("HTML_FONT_LOW_CONTRAST", 0.7)]
    assert report.scoring[0].description.endswith("identical to background")


def test_an_oversized_edition_is_an_error_and_a_large_one_a_warning(
    settings: Settings, sample_digest: Digest
) -> None:
    def with_paragraphs(count: int) -> Digest:
        lead = sample_digest.lead.model_copy(update={"paragraphs": sample_digest.lead.paragraphs * count})
        return sample_digest.model_copy(update={"lead": lead})

    big = [f for f in run_preflight(settings, with_paragraphs(10), spam_check=False) if f.rule == "html-size"]
    huge = [
        f for f in run_preflight(settings, with_paragraphs(15), spam_check=False) if f.rule == "html-size"
    ]
    assert [f.severity for f in big] == [Severity.warning] and "close to Gmail's clipping" in big[0].message
    assert [f.severity for f in huge] == [Severity.error] and "Gmail clips" in huge[0].message


def test_http_links_are_named_with_their_field_and_line(tmp_path: Path, settings: Settings) -> None:
    source = SAMPLE_DIGEST.read_text().replace(
        "  - text: Lao Prime Minister Thongsing Thammavong will visit Burma soon\n",
        "  - text: Lao Prime Minister Thongsing Thammavong will visit Burma soon\n    url: http://example.org/lao\n",
    )
    digest = tmp_path / "week.yaml"
    digest.write_text(source)
    (finding,) = problems(run_preflight(settings, digest, spam_check=False))
    assert finding.severity is Severity.warning and "http://example.org/lao" in finding.message
    line = source.splitlines().index("    url: http://example.org/lao") + 1
    assert finding.field == "sections[2].items[4].url" and finding.line == line


def test_an_http_web_app_address_is_one_warning(settings: Settings) -> None:
    findings = problems(
        run_preflight(settings.replace(base_url="http://127.0.0.1:8000"), SAMPLE_DIGEST, spam_check=False)
    )
    assert [(f.rule, f.field) for f in findings] == [("links", "setting base_url")]


def test_empty_and_malformed_links_and_images_without_alt(tmp_path: Path, settings: Settings) -> None:
    own = own_templates(
        tmp_path,
        "edition.mjml.j2",
        "<h1>{{ newsletter }}</h1>",
        '<h1>{{ newsletter }}</h1><img src="https://example.org/logo.png" width="100">'
        '<a href="">empty</a> <a href="javascript:alert(1)">bad</a>',
    )
    findings = problems(run_preflight(settings.replace(templates_dir=own), SAMPLE_DIGEST, spam_check=False))
    messages = [f.message for f in findings]
    assert any("logo.png has no alt text" in m for m in messages)
    assert any("(empty) ('empty') has no address" in m for m in messages)
    assert any("javascript:alert(1) ('bad') is malformed" in m for m in messages)
    assert {f.severity for f in findings if f.rule == "links"} == {Severity.error}


def test_missing_unsubscribe_link_and_postal_address_are_errors(tmp_path: Path, settings: Settings) -> None:
    own = own_templates(
        tmp_path,
        "edition.mjml.j2",
        "{% block footer_unsubscribe %}",
        "{% block footer_unsubscribe %}{% if false %}",
    )
    (own / "email" / "edition.mjml.j2").write_text(
        (own / "email" / "edition.mjml.j2")
        .read_text()
        .replace(
            "{% if not web_copy %}{{ super() }}{% endif %}{% endblock %}\n\n{% block footer_note %}",
            "{% endif %}{% endblock %}\n\n{% block footer_note %}",
        )
    )
    findings = run_preflight(
        settings.replace(templates_dir=own, postal_address=""), SAMPLE_DIGEST, spam_check=False
    )
    errors = {(f.rule, f.message) for f in findings if f.severity is Severity.error}
    assert ("unsubscribe", "the HTML edition has no unsubscribe link") in errors
    assert any(rule == "postal-address" for rule, _ in errors)


def test_a_missing_preheader_is_a_warning(settings: Settings, sample_digest: Digest) -> None:
    findings = problems(
        run_preflight(settings, sample_digest.model_copy(update={"preheader": None}), spam_check=False)
    )
    assert [(f.rule, f.severity) for f in findings] == [("preheader", Severity.warning)]


def test_editions_that_disagree_are_errors(tmp_path: Path, settings: Settings) -> None:
    own = own_templates(
        tmp_path, "edition.txt.j2", "{% for item in section.items %}", "{% for item in section.items[1:] %}"
    )
    located = load_located_digest(SAMPLE_DIGEST)
    findings = [
        f
        for f in run_preflight(settings.replace(templates_dir=own), located, spam_check=False)
        if f.rule == "editions-agree"
    ]
    assert findings and all(f.severity is Severity.error for f in findings)
    first = findings[0]
    assert "missing from the text edition" in first.message and first.field == "sections[0].items[0]"
    assert first.line == located.locate(("sections", 0, "items", 0))


def test_low_contrast_theme_colours_are_warnings(tmp_path: Path, settings: Settings) -> None:
    own = own_templates(tmp_path, "base.mjml.j2", ".nl-meta { color: #4d4d4d;", ".nl-meta { color: #b0b0b0;")
    findings = [
        f
        for f in run_preflight(settings.replace(templates_dir=own), SAMPLE_DIGEST, spam_check=False)
        if f.rule == "contrast"
    ]
    assert findings and findings[0].severity is Severity.warning
    assert "#b0b0b0 on #ffffff" in findings[0].message and "below WCAG AA's 4.5:1" in findings[0].message


def test_a_second_preflight_of_the_same_edition_reuses_the_kept_spam_score(
    settings: Settings,
) -> None:
    if shutil.which("spamassassin") is None:
        unavailable("Debian's spamassassin is not installed")
    run_preflight(settings, SAMPLE_DIGEST)
    (kept,) = settings.cache_dir.glob("spamassassin-*.json")
    kept.write_text('{"score": 9.5, "required": 5.0, "rules": [["PLANTED", 9.5, "kept"]]}', encoding="utf-8")
    spam = [f for f in run_preflight(settings, SAMPLE_DIGEST) if f.rule == "spamassassin"]
    assert spam[0].severity is Severity.error and "9.5" in spam[0].message and "PLANTED" in spam[0].message
