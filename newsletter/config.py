"""Settings: one frozen object, loaded once and passed explicitly to whatever needs it.

Defaults are fixed in one table (``FIELDS``), each with its help text; a ``newsletter.toml`` in the working
directory (or the file named by ``NEWSLETTER_CONFIG``) overrides them, and ``NEWSLETTER_<NAME>`` environment
variables override the file. Nothing reads the environment after start-up: the send loop, the web app and
the transports all receive a ``Settings``.
"""

from __future__ import annotations

import dataclasses
import json
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
    transport: str = dataclasses.field(
        default="outbox", metadata={"help": "outbox, smtp, sendgrid or discard"}
    )
    outbox_dir: Path = dataclasses.field(
        default=Path("outbox"), metadata={"help": "where the outbox transport writes .eml files"}
    )
    smtp_url: str = dataclasses.field(
        default="smtp://127.0.0.1:25",
        metadata={"help": "smtp://user:pass@host:port (?starttls=1) or smtps://"},
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
        default="",
        metadata={"help": "mailto address of List-Unsubscribe; default: unsubscribe@<from domain>"},
    )
    bounce_address: str = dataclasses.field(
        default="",
        metadata={"help": "envelope sender; default: bounces@<from domain> (VERP-tagged per delivery)"},
    )
    templates_dir: Path = dataclasses.field(
        default=PROJECT_ROOT / "templates", metadata={"help": "templates (email/ and web/)"}
    )
    batch_size: int = dataclasses.field(
        default=500, metadata={"help": "subscribers fetched and sent per batch"}
    )
    soft_bounce_threshold: int = dataclasses.field(
        default=3, metadata={"help": "soft bounces (distinct deliveries) within the window that suppress"}
    )
    soft_bounce_window_days: int = dataclasses.field(
        default=30, metadata={"help": "days over which soft bounces are counted"}
    )
    webhook_max_age_seconds: int = dataclasses.field(
        default=600, metadata={"help": "signed webhook posts older (or further ahead) than this are refused"}
    )
    bounce_processed_folder: str = dataclasses.field(
        default="processed", metadata={"help": "mailbox folder that processed bounces are moved to"}
    )
    # -- web signup (issue 3) ------------------------------------------------------------------------
    newsletter_name: str = dataclasses.field(
        default="",
        metadata={
            "help": "name shown on the signup pages and confirmation emails; "
            "default: the display name of from_address"
        },
    )
    confirm_ttl_days: int = dataclasses.field(
        default=7,
        metadata={"help": "days a confirmation link stays valid (an expired one offers a new link)"},
    )
    welcome_email: int = dataclasses.field(
        default=1, metadata={"help": "1: send a welcome email after confirmation; 0: do not"}
    )
    signup_limit_per_ip: int = dataclasses.field(
        default=20, metadata={"help": "signup form posts allowed per client IP per rate_limit_window seconds"}
    )
    signup_limit_per_address: int = dataclasses.field(
        default=3, metadata={"help": "confirmation emails sent per address per rate_limit_window seconds"}
    )
    rate_limit_window: int = dataclasses.field(
        default=3600, metadata={"help": "seconds over which the signup rate limits count"}
    )
    purge_pending_days: int = dataclasses.field(
        default=30, metadata={"help": "`subscribers purge-pending` removes pending signups older than this"}
    )
    embed_frame_ancestors: str = dataclasses.field(
        default="*", metadata={"help": "CSP frame-ancestors of the embeddable form, e.g. https://example.org"}
    )

    # -- delivery (issue 4) --------------------------------------------------------------------------
    smtp_concurrency: int = dataclasses.field(
        default=4, metadata={"help": "SMTP connections used in parallel (each sends many messages)"}
    )
    smtp_timeout: float = dataclasses.field(
        default=30.0, metadata={"help": "seconds to wait for an SMTP server reply before giving up on it"}
    )
    send_rate: float = dataclasses.field(
        default=0.0, metadata={"help": "messages per second handed to the transport; 0: no limit"}
    )
    max_retries: int = dataclasses.field(
        default=5, metadata={"help": "retries of a temporary failure before it is recorded failed"}
    )
    retry_delay: float = dataclasses.field(
        default=60.0, metadata={"help": "seconds before the first retry; doubles per retry, with jitter"}
    )
    retry_max_delay: float = dataclasses.field(
        default=1800.0, metadata={"help": "longest wait between retries (unless Retry-After asks more)"}
    )
    error_threshold: float = dataclasses.field(
        default=0.2, metadata={"help": "pause when more than this share of the last error_window fail"}
    )
    error_window: int = dataclasses.field(
        default=200, metadata={"help": "how many recent results error_threshold looks at"}
    )
    send_workers: int = dataclasses.field(
        default=1,
        metadata={
            "help": "processes sending one edition side by side, each its share of the list (for large "
            "lists on several cores)"
        },
    )
    sendgrid_concurrency: int = dataclasses.field(
        default=2, metadata={"help": "SendGrid requests (of up to 1,000 recipients) in flight at once"}
    )
    dkim_key_path: str = dataclasses.field(
        default="", metadata={"help": "PEM RSA private key: SMTP messages are DKIM-signed when set"}
    )
    dkim_selector: str = dataclasses.field(
        default="", metadata={"help": "DKIM selector (s=); needed with a key"}
    )
    dkim_domain: str = dataclasses.field(
        default="", metadata={"help": "DKIM signing domain (d=); default: the domain of from_address"}
    )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1")
        if self.send_workers < 1:
            raise ConfigError("send_workers must be at least 1")
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
# Short names documented in DESIGN.md; the field's own NEWSLETTER_<FIELD> spelling wins when both are set.
ENV_ALIASES = {"FROM": "from_address"}


def _coerce(name: str, raw: Any) -> Any:
    field_type = FIELDS[name].type
    try:
        if field_type in ("int", int):
            return int(raw)
        if field_type in ("float", float):
            return float(raw)
        if field_type in ("Path", Path):
            return Path(str(raw))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {raw!r} is not a valid {field_type}") from exc
    if not isinstance(raw, str):
        raise ConfigError(f"setting {name}: expected text, got {raw!r}")
    return raw


def config_path(environ: Mapping[str, str] | None = None, config_file: Path | None = None) -> Path:
    """The TOML file in force: --config, else NEWSLETTER_CONFIG, else ./newsletter.toml."""
    environ = os.environ if environ is None else environ
    return config_file or Path(environ.get(ENV_PREFIX + "CONFIG", DEFAULT_CONFIG_FILE))


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None, **overrides: Any
) -> Settings:
    """Defaults, then the TOML file, then NEWSLETTER_* variables, then explicit overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_path(environ, config_file)
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
    for alias, name in ENV_ALIASES.items():
        if ENV_PREFIX + alias in environ:
            values[name] = _coerce(name, environ[ENV_PREFIX + alias])
    for name in FIELDS:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name])
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(name, raw)
    return Settings(**values)


def append_settings(config_file: Path, values: Mapping[str, str]) -> None:
    """Add ``name = "value"`` lines to the TOML file, creating it private (0600): it holds the secret."""
    existing = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    lines = "".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items())
    text = existing + ("" if not existing or existing.endswith("\n") else "\n") + lines
    fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)
