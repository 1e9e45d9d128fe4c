"""A command imports what it uses and nothing more: the import set of real processes, not their time.

``newsletter --help`` and every ``newsletter COMMAND --help`` must not load SQLAlchemy, rich, pydantic,
Jinja, MJML, the CSS inliner, the web stack or the feedback parsers; a send loads what a send needs and
not the web app, SendGrid, DKIM (without a key) or the bounce parsers. Each case runs in a fresh
interpreter, since a module imported once stays imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.cli.app import COMMANDS
from newsletter.cli.lazy import first_paragraph
from tests.conftest import SAMPLE_DIGEST

UNASKED = ("fastapi", "starlette", "uvicorn", "sendgrid", "dkim", "cryptography", "flufl", "celery")
"""What no command but the one that needs it loads: the web stack, SendGrid, DKIM, bounce parsing, Celery."""
HEAVY = (
    *UNASKED,
    "sqlalchemy",
    "rich",
    "pydantic",
    "jinja2",
    "mjml",
    "css_inline",
    "yaml",
    "email_validator",
    "playwright",
    "alembic",
    "newsletter.database",
    "newsletter.edition",
    "newsletter.delivery",
    "newsletter.feedback",
    "newsletter.dispatch",
    "newsletter.web",
    "subscribers.store",
)
NOT_FOR_A_SEND = (
    *UNASKED,
    "playwright",
    "alembic",
    "multiprocessing",
    "email_validator",
    "sqlalchemy.dialects.postgresql",
    "newsletter.web",
    "newsletter.feedback.dsn",
    "newsletter.feedback.mailbox",
    "newsletter.feedback.apply",  # the policy and the classifier load at the first refusal, not before
    "newsletter.feedback.classify",
    "newsletter.feedback.wordings",
    "newsletter.delivery.transports.sendgrid",
    "typer._adapters",  # text, flag and path options are read without pydantic TypeAdapters
    "rich",  # stderr is not a terminal here: plain lines, no bar
)
TABLE = {entry.name: entry for entry in COMMANDS}
# Runs main() like the console script, then writes the names of every module loaded to the given file.
RUNNER = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: json.dump(sorted(sys.modules), open(out, "w")))
sys.argv[0] = "newsletter"
from newsletter.cli import main
main()
"""


# Builds the web app as ``newsletter serve`` does, then writes the names of every module loaded.
APP_STARTER = """
import json, sys
from newsletter.config import load_settings
from newsletter.web.app import create_app
create_app(load_settings())
json.dump(sorted(sys.modules), open(sys.argv[1], "w"))
"""


def imported(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules ``newsletter ARGS`` loaded."""
    return modules_of(tmp_path, RUNNER, *args, env=env)


def modules_of(tmp_path: Path, script: str, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter running ``script`` in ``tmp_path`` loaded, without the caller's
    NEWSLETTER_ settings."""
    out = tmp_path / "modules.json"
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    result = subprocess.run(
        [sys.executable, "-c", script, str(out), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(out.read_text()))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


def test_importing_the_cli_package_imports_no_command_library() -> None:
    code = "import sys, newsletter.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'typer'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def help_cases() -> list[tuple[str, ...]]:
    cases: list[tuple[str, ...]] = [(), *((entry.name,) for entry in COMMANDS)]
    return [*cases, ("subscribers", "add"), ("subscribers", "import"), ("bounces", "classify")]


@pytest.mark.parametrize("command", help_cases(), ids=lambda c: " ".join(c) or "newsletter")
def test_help_imports_no_stage_and_no_heavy_library(tmp_path: Path, command: tuple[str, ...]) -> None:
    modules = imported(tmp_path, *command, "--help")
    assert loaded(modules, HEAVY) == []
    if command:  # the help came from the command itself, whose module was loaded for it
        assert TABLE[command[0]].target.split(":")[0] in modules


def test_a_send_imports_what_a_send_uses_and_nothing_else(tmp_path: Path) -> None:
    assert imported(tmp_path, "init", "--demo", "3")
    modules = imported(tmp_path, "send", str(SAMPLE_DIGEST), "--yes", env={"NEWSLETTER_TRANSPORT": "outbox"})
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3  # it did send
    assert loaded(modules, NOT_FOR_A_SEND) == []
    assert {"sqlalchemy.orm", "jinja2", "newsletter.delivery.send_loop"} <= modules


def test_counting_subscribers_renders_nothing(tmp_path: Path) -> None:
    assert imported(tmp_path, "init")
    modules = imported(tmp_path, "subscribers", "count")
    rendering = ("jinja2", "mjml", "css_inline", "yaml", "pydantic", "newsletter.edition.render")
    assert loaded(modules, rendering) == []


def test_every_listed_help_line_is_the_commands_own() -> None:
    """The table's one-line help (shown without importing) says what the command's docstring says."""
    for entry in COMMANDS:
        command = entry.load()
        assert command.name == entry.name
        assert first_paragraph(command.help or "") == entry.help, entry.name


def test_the_web_app_starts_without_the_edition_compilers_or_the_desk(tmp_path: Path) -> None:
    """``serve`` answers its first page without MJML or css-inline (they load at the first render) and
    without the desk's modules (they load at the first desk request)."""
    assert imported(tmp_path, "init")
    modules = modules_of(tmp_path, APP_STARTER)
    assert "fastapi" in modules  # the app was built
    later = ("mjml", "css_inline", "newsletter.web.desk.context", "newsletter.web.desk.editions")
    assert loaded(modules, later) == []
