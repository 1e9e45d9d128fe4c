"""The digest loader: the sample loads unchanged, JSON is the same structure, bad files say where and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from newsletter.edition.digest import load_digest, parse_digest
from newsletter.errors import DigestError
from tests.conftest import SAMPLE_DIGEST, SHARED


def test_the_shared_seed_digest_loads_unchanged() -> None:
    shipped = SHARED / "digests" / "2011-07-11-weekly-highlights.yaml"
    if shipped.exists():
        assert shipped.read_bytes() == SAMPLE_DIGEST.read_bytes()
    digest = load_digest(SAMPLE_DIGEST)
    assert digest.newsletter == "Burma Partnership"
    assert len(digest.sections) == 10
    assert digest.sections[5].kind == "callout"
    assert len(digest.all_items()) == 48
    assert digest.sections[0].items[0].related[0].text.startswith("US welcomes")  # type: ignore[union-attr]


def test_json_with_the_same_structure_gives_the_same_digest(tmp_path: Path) -> None:
    data = yaml.safe_load(SAMPLE_DIGEST.read_text(encoding="utf-8"))
    path = tmp_path / "digest.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_digest(path) == load_digest(SAMPLE_DIGEST)


def test_a_validation_error_names_file_line_and_field(tmp_path: Path) -> None:
    text = SAMPLE_DIGEST.read_text(encoding="utf-8").replace("  - title: Rethinking", "  - titel: Rethinking")
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "titel: Rethinking" in row)
    with pytest.raises(DigestError) as caught:
        load_digest(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"line {line}, sections[7].items[0].titel: Extra inputs are not permitted" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    text = SAMPLE_DIGEST.read_text(encoding="utf-8").replace("date: '2011-07-11'", "date: 'soon'")
    path.write_text(text.replace("newsletter: Burma Partnership", "newsletter: ''"), encoding="utf-8")
    with pytest.raises(DigestError) as caught:
        load_digest(path)
    assert "2 problem(s)" in str(caught.value)
    assert "line 8, date:" in str(caught.value)
    assert "line 5, newsletter:" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("syntax.yaml", b"newsletter: [unclosed\n", "line 2: not valid YAML"),
        ("syntax.json", b'{"newsletter": }', "line 1: not valid JSON"),
        ("list.yaml", b"- a\n- b\n", "a digest is a mapping"),
        ("latin1.yaml", "newsletter: caf\u00e9".encode("latin-1"), "not UTF-8 text"),
        ("binary.yaml", bytes(range(256)), "not UTF-8 text"),
        ("empty.yaml", b"", "a digest is a mapping"),
        ("item.yaml", b"", "an item needs a 'text' or a 'title'"),
        ("subject.yaml", b"", "must be one line"),
        ("url.yaml", b"", "url: URL scheme should be 'http' or 'https'"),
    ],
)
def test_bad_digest_files_give_one_clear_error(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    sample = SAMPLE_DIGEST.read_text(encoding="utf-8")
    if name == "item.yaml":
        content = sample.replace(
            "  - title: Monthly Chronology of Events",
            "  - byline: x\n    source: y\n    url: null\n  - title: M",
        ).encode()
    if name == "subject.yaml":
        content = sample.replace(
            "title: '4-10 July", 'title: "Line one\\nBcc: x@y.z"\nx_title: \'4-10 July', 1
        ).encode()
        content = content.replace(b"x_title:", b"# x_title:")
    if name == "url.yaml":
        content = sample.replace(
            "  - title: Rethinking", "  - url: 'javascript:alert(1)'\n    title: Rethinking"
        ).encode()
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DigestError) as caught:
        load_digest(path)
    assert expected in str(caught.value)


def test_a_missing_file_is_a_digest_error(tmp_path: Path) -> None:
    with pytest.raises(DigestError, match="cannot read"):
        load_digest(tmp_path / "nope.yaml")


def test_yaml_tags_cannot_construct_python_objects() -> None:
    with pytest.raises(DigestError):
        parse_digest("!!python/object/apply:os.system ['true']\n", Path("evil.yaml"))
