"""Settings: one frozen object, loaded once and passed explicitly to whatever needs it.

Defaults are fixed in one table (``FIELDS``), each with its help text; a ``newsletter.toml`` in the working
directory (or the file named by ``NEWSLETTER_CONFIG``) overrides them, and ``NEWSLETTER_<NAME>`` environment
variables override the file. Nothing reads the environment after start-up: the send loop, the web app and
the transports all receive a ``Settings``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from newsletter.errors import ConfigError

ENV_PREFIX = "NEWSLETTER_"
DEFAULT_CONFIG_FILE = "newsletter.toml"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of the service. Field metadata carries the help text shown by ``newsletter config``."""

    database_url: str = dataclasses.field(
        default="sqlite:///newsletter.db", metadata={"help": "SQLAlchemy URL of the store"}
    )
    transport: str = dataclasses.field(default="outbox", metadata={"help": "outbox, smtp, sendgrid or discard"})
    outbox_dir: Path = dataclasses.field(
        default=Path("outbox"), metadata={"help": "where the outbox transport writes .eml files"}
    )
    smtp_url: str = dataclasses.field(
        default="smtp://127.0.0.1:25", metadata={"help": "smtp://user:pass@host:port (?starttls=1) or smtps://"}
    )
    sendgrid_api_key: str = dataclasses.field(default="", metadata={"help": "SendGrid API key"})
    sendgrid_host: str = dataclasses.field(
        default="https://api.sendgrid.com", metadata={"help": "base URL of the SendGrid v3 API"}
    )
    sendgrid_webhook_key: str = dataclasses.field(
        default="", metadata={"help": "public key of the signed Event Webhook (base64)"}
    )
    base_url: str = dataclasses.field(
        default="http://127.0.0.1:8000", metadata={"help": "public URL of the web app (links in emails)"}
    )
    secret_key: str = dataclasses.field(default="", metadata={"help": "signs tokens; keep it secret"})
    from_address: str = dataclasses.field(
        default="Newsletter <newsletter@example.org>", metadata={"help": "From header of every message"}
    )
    postal_address: str = dataclasses.field(
        default="", metadata={"help": "the sender's postal address, shown in every footer"}
    )
    list_id: str = dataclasses.field(
        default="", metadata={"help": "List-Id (RFC 2919); default: newsletter.<domain of from_address>"}
    )
    unsubscribe_mailto: str = dataclasses.field(
        default="", metadata={"help": "mailto address of List-Unsubscribe; default: unsubscribe@<from domain>"}
    )
    bounce_address: str = dataclasses.field(
        default="", metadata={"help": "envelope sender; default: bounces@<from domain> (VERP-tagged per delivery)"}
    )
    templates_dir: Path = dataclasses.field(
        default=PROJECT_ROOT / "templates", metadata={"help": "templates (email/ and web/)"}
    )
    batch_size: int = dataclasses.field(default=500, metadata={"help": "subscribers fetched and sent per batch"})

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        if "@" not in self.from_address:
            raise ConfigError(f"from_address {self.from_address!r} has no email address in it")

    @property
    def from_domain(self) -> str:
        return self.from_address.rsplit("@", 1)[1].rstrip(">").strip().lower()

    @property
    def effective_list_id(self) -> str:
        return self.list_id or f"newsletter.{self.from_domain}"

    @property
    def effective_unsubscribe_mailto(self) -> str:
        return self.unsubscribe_mailto or f"unsubscribe@{self.from_domain}"

    @property
    def effective_bounce_address(self) -> str:
        return self.bounce_address or f"bounces@{self.from_domain}"

    def require_secret(self) -> str:
        """The signing key, or a ConfigError saying how to get one: nothing signs with an empty key."""
        if len(self.secret_key) < 16:
            raise ConfigError(
                "no secret key configured (NEWSLETTER_SECRET_KEY, at least 16 characters): "
                "run `newsletter init`, which writes one to newsletter.toml, or set it yourself"
            )
        return self.secret_key

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}


def _coerce(name: str, raw: Any) -> Any:
    field_type = FIELDS[name].type
    try:
        if field_type in ("int", int):
            return int(raw)
        if field_type in ("Path", Path):
            return Path(str(raw))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {raw!r} is not a valid {field_type}") from exc
    if not isinstance(raw, str):
        raise ConfigError(f"setting {name}: expected text, got {raw!r}")
    return raw


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None, **overrides: Any
) -> Settings:
    """Defaults, then the TOML file, then NEWSLETTER_* variables, then explicit overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or Path(environ.get(ENV_PREFIX + "CONFIG", DEFAULT_CONFIG_FILE))
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        section = data.get("newsletter", data)
        for key, raw in section.items():
            if key not in FIELDS:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, raw)
    for name in FIELDS:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name])
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(name, raw)
    return Settings(**values)


def write_secret_key(config_file: Path) -> str:
    """Create a random secret in ``config_file`` (mode 0600) so a new install signs tokens from day one."""
    key = secrets.token_urlsafe(32)
    existing = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    text = existing + ("" if not existing or existing.endswith("\n") else "\n") + f'secret_key = "{key}"\n'
    fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return key
