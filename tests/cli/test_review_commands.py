"""preflight, new-digest, publish and preview as an editor runs them, and the preflight gate of send."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.database import open_database
from newsletter.edition.digest import load_digest
from tests.conftest import SAMPLE_DIGEST
from tests.support.cli import run
from tests.support.services import unavailable


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    result = run(tmp_path, "init", "--demo", "3")
    assert result.returncode == 0, result.stderr
    return tmp_path


def _ledger_rows(workdir: Path) -> int:
    settings = load_settings(environ={}, config_file=workdir / "newsletter.toml")
    database = open_database(settings.replace(database_url=f"sqlite:///{workdir / 'newsletter.db'}"))
    try:
        return sum(sum(database.ledger.counts(e.id).values()) for e in database.ledger.editions())
    finally:
        database.close()


def test_preflight_json_lists_findings_with_where(workdir: Path) -> None:
    result = run(workdir, "preflight", str(SAMPLE_DIGEST), "--json", "--no-spam")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] == 0 and report["warnings"] == 1  # the demo's http://127.0.0.1:8000
    (finding,) = report["findings"]
    assert finding["severity"] == "warning" and finding["where"] == "setting base_url"


def test_a_send_refused_by_preflight_writes_no_ledger_row(workdir: Path) -> None:
    broken = workdir / "broken.yaml"
    broken.write_text(SAMPLE_DIGEST.read_text().replace("'2011-07-11'", "'2011-07-18'"))
    no_address = {"NEWSLETTER_POSTAL_ADDRESS": " "}
    refused = run(workdir, "send", str(broken), "--yes", env=no_address)
    assert refused.returncode == 1
    assert "no postal address is configured" in refused.stderr and "--force" in refused.stderr
    assert _ledger_rows(workdir) == 0 and not list((workdir / "outbox").glob("*.eml"))
    bad_template = workdir / "own" / "email"
    bad_template.mkdir(parents=True)
    source = (Path(__file__).resolve().parents[2] / "templates/email/edition.txt.j2").read_text()
    (bad_template / "edition.txt.j2").write_text(
        source.replace("{% for item in section.items %}", "{% for item in [] %}")
    )
    env = {"NEWSLETTER_TEMPLATES_DIR": str(workdir / "own")}
    assert run(workdir, "send", str(broken), "--yes", env=env).returncode == 1
    assert _ledger_rows(workdir) == 0
    forced = run(workdir, "send", str(broken), "--yes", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert _ledger_rows(workdir) == 3


def test_new_digest_writes_a_dated_template_that_loads(workdir: Path) -> None:
    for fmt in ("md", "yaml"):
        result = run(workdir, "new-digest", "--format", fmt, "--date", "2026-12-07")
        assert result.returncode == 0, result.stderr
        path = workdir / "digests" / f"2026-12-07.{fmt}"
        assert result.stdout.strip() == str(Path("digests") / f"2026-12-07.{fmt}")
        assert "#" in path.read_text()  # commented
        digest = load_digest(path)
        assert digest.date.isoformat() == "2026-12-07" and digest.sections
    assert load_digest(workdir / "digests/2026-12-07.md") == load_digest(workdir / "digests/2026-12-07.yaml")
    again = run(workdir, "new-digest", "--date", "2026-12-07")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "use md or yaml" in run(workdir, "new-digest", "--format", "docx").stderr


def test_publish_by_key_or_file(workdir: Path) -> None:
    unknown = run(workdir, "publish", "2011-07-11-nothing")
    assert unknown.returncode == 1 and "no edition" in unknown.stderr
    result = run(workdir, "publish", str(SAMPLE_DIGEST), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["url"] == "http://127.0.0.1:8000/archive/2011-07-11-weekly-highlights/"
    again = json.loads(run(workdir, "publish", "2011-07-11-weekly-highlights", "--json").stdout)
    assert again["already"] is True


def _png_width(path: Path) -> int:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int(struct.unpack(">I", header[16:20])[0])


@pytest.mark.browser
def test_preview_writes_screenshots_of_the_right_widths(workdir: Path) -> None:
    if not Path("/usr/bin/chromium").exists() or shutil.which("chromium") is None:
        unavailable("/usr/bin/chromium is not installed (apt-get install chromium)")
    result = run(workdir, "preview", str(SAMPLE_DIGEST), "--out", "preview")
    assert result.returncode == 0, result.stderr
    out = workdir / "preview"
    for width in (375, 800):
        for images in ("blocked", "shown"):
            shot = out / f"edition-{width}-images-{images}.png"
            assert shot.stat().st_size > 10_000 and _png_width(shot) == width
    assert "scrolls sideways" not in result.stdout  # at 375 px the page is no wider than the screen
    assert _png_width(out / "contact-sheet.png") > 2 * (375 + 800)
    assert (out / "edition.html").exists() and (out / "sample.eml").exists()
