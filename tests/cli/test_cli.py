"""The command line as an editor uses it: real subprocesses, a real SQLite file, the outbox on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE_DIGEST
from tests.support.cli import run


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    result = run(tmp_path, "init", "--demo", "12")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_init_creates_the_database_a_secret_and_demo_readers(workdir: Path) -> None:
    config = (workdir / "newsletter.toml").read_text()
    assert config.startswith('secret_key = "') and (workdir / "newsletter.toml").stat().st_mode & 0o077 == 0
    counts = json.loads(run(workdir, "subscribers", "count", "--json").stdout)
    assert counts == {"pending": 0, "confirmed": 12, "unsubscribed": 0, "bounced": 0, "complained": 0}
    again = run(workdir, "init", "--demo", "12")
    assert "0 confirmed subscribers added (12 were already there)" in again.stderr
    assert (workdir / "newsletter.toml").read_text() == config


def test_send_py_sends_the_sample_edition_to_the_outbox(workdir: Path) -> None:
    result = run(workdir, str(SAMPLE_DIGEST), "--yes", "--json", script=str(ROOT / "send.py"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["accepted"], summary["recipients"], summary["transport"]) == (12, 12, "outbox")
    assert len(list((workdir / "outbox").glob("*.eml"))) == 12
    again = json.loads(run(workdir, "send", str(SAMPLE_DIGEST), "--yes", "--json").stdout)
    assert (again["accepted"], again["already_sent"]) == (0, 12)


def test_without_a_terminal_send_refuses_instead_of_waiting(workdir: Path) -> None:
    result = run(workdir, "send", str(SAMPLE_DIGEST), stdin="")
    assert result.returncode == 1
    assert "pass --yes" in result.stderr and "Traceback" not in result.stderr
    assert not (workdir / "outbox").exists()


def test_dry_run_renders_and_counts_without_sending(workdir: Path) -> None:
    result = run(workdir, "send", str(SAMPLE_DIGEST), "--dry-run", "--json")
    summary = json.loads(result.stdout)
    assert summary["recipients"] == 12 and summary["dry_run"] is True
    assert summary["html_bytes"] < 60_000
    assert not (workdir / "outbox").exists()


def test_test_addresses_get_the_edition_and_the_list_does_not(workdir: Path) -> None:
    result = run(workdir, "send", str(SAMPLE_DIGEST), "--test", "editor@example.net", "--json")
    assert json.loads(result.stdout)["results"][0]["outcome"] == "accepted"
    assert len(list((workdir / "outbox").glob("*.eml"))) == 1
    bad = run(workdir, "send", str(SAMPLE_DIGEST), "--test", "not an address")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_sending_without_a_secret_is_refused(tmp_path: Path) -> None:
    result = run(
        tmp_path, "send", str(SAMPLE_DIGEST), "--yes", env={"NEWSLETTER_CONFIG": str(tmp_path / "none.toml")}
    )
    assert result.returncode == 1 and "no secret key configured" in result.stderr


def test_a_broken_digest_is_one_clear_error_and_nothing_is_sent(workdir: Path) -> None:
    broken = workdir / "broken.yaml"
    broken.write_text(SAMPLE_DIGEST.read_text(encoding="utf-8").replace("lead:", "leed:"), encoding="utf-8")
    result = run(workdir, "send", str(broken), "--yes")
    assert result.returncode == 1
    assert "lead: Field required" in result.stderr and "Traceback" not in result.stderr
    assert not (workdir / "outbox").exists()


def test_render_writes_the_preview_files(workdir: Path) -> None:
    result = run(workdir, "render", str(SAMPLE_DIGEST), "--out", "preview")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (workdir / "preview").iterdir())
    assert names == ["edition.html", "edition.txt", "sample.eml"]
    assert "Hello Sample Reader," in (workdir / "preview" / "edition.txt").read_text(encoding="utf-8")


def test_import_reports_bad_rows_and_exits_non_zero(workdir: Path) -> None:
    csv_file = workdir / "list.csv"
    csv_file.write_text("email,name\nnew@example.org,New\nbroken,Row\n", encoding="utf-8")
    result = run(workdir, "subscribers", "import", str(csv_file), "--confirmed")
    assert result.returncode == 3
    assert f"{csv_file}:3: 'broken':" in result.stderr
    assert "added 1" in result.stdout
    export = run(workdir, "subscribers", "export")
    assert "new@example.org,New,confirmed" in export.stdout


def test_commands_on_an_uninitialised_database_say_to_run_init(tmp_path: Path) -> None:
    result = run(tmp_path, "subscribers", "count")
    assert result.returncode == 1 and "newsletter init" in result.stderr


def test_config_lists_settings_without_revealing_secrets(workdir: Path) -> None:
    env = {
        "NEWSLETTER_SMTP_URL": "smtp://mailer:hunter2@127.0.0.1:2525?starttls=1",
        "NEWSLETTER_SENDGRID_API_KEY": "SG.very-secret",
    }
    result = run(workdir, "config", env=env)
    assert result.returncode == 0, result.stderr
    assert "NEWSLETTER_SMTP_URL" in result.stdout and "smtp://mailer:***@127.0.0.1:2525" in result.stdout
    secret = (workdir / "newsletter.toml").read_text().split('"')[1]
    for hidden in ("hunter2", "SG.very-secret", secret):
        assert hidden not in result.stdout
