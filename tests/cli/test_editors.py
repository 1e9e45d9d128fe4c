"""``newsletter editors``: the first editor from the command line, and the link that sets the password."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.database import open_database
from tests.support.cli import run
from tests.support.web_helpers import build_app, make_client


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    result = run(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_editors_add_prints_a_one_time_password_link_that_the_desk_opens(workdir: Path) -> None:
    result = run(workdir, "editors", "add", "Ann")
    assert result.returncode == 0, result.stderr
    match = re.search(r"http://127\.0\.0\.1:8000(/desk/set-password/\S+)", result.stdout)
    assert match, result.stdout
    assert "editor ann created" in result.stdout
    listed = run(workdir, "editors", "list")
    assert "ann: last signed in never (no password set yet)" in listed.stdout
    twice = run(workdir, "editors", "add", "ann")
    assert twice.returncode == 1 and "already an editor called 'ann'" in twice.stderr
    bad = run(workdir, "editors", "add", "no spaces please")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr

    values = tomllib.loads((workdir / "newsletter.toml").read_text())
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'newsletter.db'}",
        secret_key=values["secret_key"],
        postal_address=values.get("postal_address", "PO Box 1"),
        base_url="http://127.0.0.1:8000",
    )
    database = open_database(settings)
    try:
        client = make_client(build_app(settings, database))
        page = client.get(match.group(1))
        assert page.status_code == 200 and "Set your password, ann" in page.text
    finally:
        database.close()
    assert run(workdir, "editors", "remove", "ann").returncode == 0
    assert run(workdir, "editors", "list").stdout == ""


def test_editors_add_with_password_needs_a_terminal(workdir: Path) -> None:
    result = run(workdir, "editors", "add", "bob", "--password", stdin="secret secret\n")
    assert result.returncode == 1 and "asks on a terminal" in result.stderr
    assert run(workdir, "editors", "list").stdout == ""
