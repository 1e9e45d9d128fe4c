"""deploy/: the compose file and the systemd units start real `newsletter` commands with real settings.

Docker is not on the test machines, so the compose file is not started here: what can go wrong in it
without Docker is checked instead. Every command a service runs is a `newsletter` command whose
options that command's own ``--help`` lists; every NEWSLETTER_* variable is a setting config.py reads;
each systemd unit's command line matches its compose service; ``systemd-analyze verify`` accepts the
units where it is installed (with the binary path pointed at this checkout).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from newsletter.config import ENV_ALIASES, ENV_PREFIX, FIELDS

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
NEWSLETTER_SERVICES = {
    name: service
    for name, service in COMPOSE["services"].items()
    if service.get("image") == "newsletter:latest"
}
UNITS = sorted(DEPLOY.glob("systemd/*.service"))
SETTINGS_VARIABLES = {ENV_PREFIX + name.upper() for name in FIELDS} | {ENV_PREFIX + a for a in ENV_ALIASES}


def newsletter_commands(service: dict[str, object]) -> list[list[str]]:
    """The newsletter command lines a service runs (a shell loop may hold one)."""
    command = [str(part) for part in service.get("entrypoint") or []] + [str(p) for p in service["command"]]  # type: ignore[union-attr]
    if command[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in re.findall(r"newsletter [^;&|]*", command[2])]
    return [command]


def help_of(arguments: list[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "from newsletter.cli import main; main()", *arguments, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def check_command(arguments: list[str]) -> None:
    assert arguments[0] == "newsletter", arguments
    words = [a for a in arguments[1:] if not a.startswith("-")]
    subcommand = words[:1] if words and words[0] == arguments[1] else []
    listed = help_of(subcommand)
    for option in (a.split("=", 1)[0] for a in arguments[1:] if a.startswith("--")):
        if option != "--help":
            assert option in listed, f"`newsletter {' '.join(subcommand)}` has no option {option}"


def test_every_newsletter_service_runs_a_real_command_with_real_options() -> None:
    assert {"migrate", "worker", "web", "run-due"} <= set(NEWSLETTER_SERVICES)
    for service in NEWSLETTER_SERVICES.values():
        for arguments in newsletter_commands(service):
            check_command(arguments)


def test_every_variable_the_services_set_is_a_setting_newsletter_reads() -> None:
    names = set(COMPOSE["x-newsletter"]["environment"])
    example = (DEPLOY / "newsletter.env.example").read_text(encoding="utf-8")
    names |= {line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")}
    assert names <= SETTINGS_VARIABLES, names - SETTINGS_VARIABLES
    for service in NEWSLETTER_SERVICES.values():
        assert service["env_file"] == "newsletter.env"  # the example's settings reach every one


def test_the_services_the_workers_and_the_web_app_need_are_there() -> None:
    environment = COMPOSE["x-newsletter"]["environment"]
    services = COMPOSE["services"]
    for variable, service in (
        ("NEWSLETTER_DATABASE_URL", "postgres"),
        ("NEWSLETTER_BROKER_URL", "rabbitmq"),
        ("NEWSLETTER_REDIS_URL", "redis"),
    ):
        assert f"@{service}:" in environment[variable] or f"//{service}:" in environment[variable]
        assert service in services
    assert environment["NEWSLETTER_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert services["worker"]["stop_signal"] == "SIGTERM"  # a warm shutdown: the batch in hand first


def unit_command(unit: Path) -> list[str]:
    line = next(x for x in unit.read_text(encoding="utf-8").splitlines() if x.startswith("ExecStart="))
    arguments = shlex.split(line.removeprefix("ExecStart="))
    assert arguments[0] == "/opt/newsletter/.venv/bin/newsletter", arguments
    return ["newsletter", *arguments[1:]]


def test_each_systemd_unit_runs_what_its_compose_service_runs() -> None:
    by_unit = {unit.name: unit_command(unit) for unit in UNITS}
    assert set(by_unit) == {
        "newsletter-web.service",
        "newsletter-worker@.service",
        "newsletter-run-due.service",
    }
    for command in by_unit.values():
        check_command(command)
    compose = {name: newsletter_commands(s)[0][:2] for name, s in NEWSLETTER_SERVICES.items()}
    assert by_unit["newsletter-web.service"][:2] == compose["web"]
    assert by_unit["newsletter-worker@.service"] == newsletter_commands(NEWSLETTER_SERVICES["worker"])[0]
    assert by_unit["newsletter-run-due.service"] == newsletter_commands(NEWSLETTER_SERVICES["run-due"])[0]


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    newsletter = Path(sys.executable).with_name("newsletter")
    for unit in [*UNITS, *DEPLOY.glob("systemd/*.timer")]:
        text = unit.read_text(encoding="utf-8").replace(
            "/opt/newsletter/.venv/bin/newsletter", str(newsletter)
        )
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run([tool, "verify", *units], capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines() if "newsletter" in line]
    assert result.returncode == 0 and not problems, result.stderr
