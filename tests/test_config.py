"""Settings: defaults, then the TOML file, then environment variables, then explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import ConfigError, load_settings


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load_settings({}, config_file=tmp_path / "absent.toml")
    assert settings.database_url == "sqlite:///newsletter.db"
    assert settings.transport == "outbox" and settings.outbox_dir == Path("outbox")
    assert settings.effective_list_id == "newsletter.example.org"
    with pytest.raises(ConfigError, match="no secret key"):
        settings.require_secret()


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text('transport = "discard"\nbatch_size = 50\nfrom_address = "A <a@one.org>"\n')
    settings = load_settings(
        {"NEWSLETTER_BATCH_SIZE": "7", "NEWSLETTER_FROM": "B <b@two.org>"}, config_file=config
    )
    assert (settings.transport, settings.batch_size, settings.from_domain) == ("discard", 7, "two.org")
    assert load_settings({"NEWSLETTER_CONFIG": str(config)}).batch_size == 50


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("batch_size = 'many'\n", {}, "batch_size"),
        ("colour = 'red'\n", {}, "unknown setting 'colour'"),
        ("not toml at all [\n", {}, "newsletter.toml"),
        ("", {"NEWSLETTER_BATCH_SIZE": "0"}, "at least 1"),
        ("", {"NEWSLETTER_FROM": "nobody"}, "no email address"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(env, config_file=config)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NEWSLETTER_SMTP_CONCURRENCY": "0"}, "smtp_concurrency: 0 is too small; it must be at least 1"),
        ({"NEWSLETTER_ERROR_THRESHOLD": "1.5"}, "error_threshold: 1.5 is too large"),
        ({"NEWSLETTER_TRANSPORT": "pigeon"}, "transport: 'pigeon' is not one of outbox, discard, smtp"),
        ({"NEWSLETTER_SENDGRID_HOST": "api.sendgrid.com"}, "sendgrid_host: 'api.sendgrid.com' must be a URL"),
        ({"NEWSLETTER_SMTP_URL": "http://mail.example.org"}, "smtp_url: .* must be a URL starting with smtp"),
        ({"NEWSLETTER_WELCOME_EMAIL": "maybe"}, "welcome_email: 'maybe' is not a yes/no value"),
    ],
)
def test_every_value_is_checked_when_the_settings_load(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env, config_file=tmp_path / "absent.toml")


@pytest.mark.parametrize(("raw", "expected"), [("0", False), ("off", False), ("true", True), ("YES", True)])
def test_booleans_are_booleans_from_the_environment(tmp_path: Path, raw: str, expected: bool) -> None:
    settings = load_settings({"NEWSLETTER_WELCOME_EMAIL": raw}, config_file=tmp_path / "absent.toml")
    assert settings.welcome_email is expected


def test_booleans_are_booleans_in_the_file(tmp_path: Path) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text("welcome_email = false\n")
    assert load_settings({}, config_file=config).welcome_email is False
