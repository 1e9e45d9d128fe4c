"""Settings: one frozen object, loaded once and passed explicitly to whatever needs it.

Defaults are fixed in one table (``FIELDS``), each with its help text; a ``newsletter.toml`` in the working
directory (or the file named by ``NEWSLETTER_CONFIG``) overrides them, and ``NEWSLETTER_<NAME>`` environment
variables override the file. Nothing reads the environment after start-up: the send loop, the web app and
the transports all receive a ``Settings``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
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


def setting(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    schemes: tuple[str, ...] = (),
) -> Any:
    """One row of the settings table: default, help text, and what a valid value is (checked at load)."""
    metadata = {"help": help, "minimum": minimum, "maximum": maximum, "choices": choices, "schemes": schemes}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of the service. Field metadata carries the help text shown by ``newsletter config``
    and the bounds every value is checked against when the settings load (``__post_init__``), so a bad
    value is reported by the first command that loads it, before anything is asked or sent."""

    # -- where things are kept -----------------------------------------------------------------------
    database_url: str = setting("sqlite:///newsletter.db", "SQLAlchemy URL of the store")
    outbox_dir: Path = setting(Path("outbox"), "where the outbox transport writes .eml files")
    templates_dir: Path = setting(PROJECT_ROOT / "templates", "templates (email/ and web/)")

    # -- who sends, and the addresses every message carries ------------------------------------------
    from_address: str = setting("Newsletter <newsletter@example.org>", "From header of every message")
    postal_address: str = setting("", "the sender's postal address, shown in every footer")
    newsletter_name: str = setting(
        "",
        "name shown on the signup pages and confirmation emails; default: the display name of from_address",
    )
    list_id: str = setting("", "List-Id (RFC 2919); default: newsletter.<domain of from_address>")
    unsubscribe_mailto: str = setting(
        "", "mailto address of List-Unsubscribe; default: unsubscribe@<from domain>"
    )
    bounce_address: str = setting(
        "", "envelope sender; default: bounces@<from domain> (VERP-tagged per delivery)"
    )
    base_url: str = setting(
        "http://127.0.0.1:8000", "public URL of the web app (links in emails)", schemes=("http", "https")
    )
    secret_key: str = setting("", "signs tokens; keep it secret")

    # -- how messages leave --------------------------------------------------------------------------
    transport: str = setting(
        "outbox", "outbox, smtp, sendgrid or discard", choices=("outbox", "discard", "smtp", "sendgrid")
    )
    smtp_url: str = setting(
        "smtp://127.0.0.1:25",
        "smtp://user:pass@host:port (?starttls=1) or smtps://",
        schemes=("smtp", "smtps"),
    )
    smtp_concurrency: int = setting(
        4, "SMTP connections used in parallel (each sends many messages)", minimum=1, maximum=64
    )
    smtp_timeout: float = setting(
        30.0, "seconds to wait for an SMTP server reply before giving up on it", minimum=0.1
    )
    sendgrid_api_key: str = setting("", "SendGrid API key")
    sendgrid_host: str = setting(
        "https://api.sendgrid.com", "base URL of the SendGrid v3 API", schemes=("http", "https")
    )
    sendgrid_concurrency: int = setting(
        2, "SendGrid requests (of up to 1,000 recipients) in flight at once", minimum=1, maximum=32
    )
    dkim_key_path: str = setting("", "PEM RSA private key: SMTP messages are DKIM-signed when set")
    dkim_selector: str = setting("", "DKIM selector (s=); needed with a key")
    dkim_domain: str = setting("", "DKIM signing domain (d=); default: the domain of from_address")

    # -- the pace of a send, retries and when to stop ------------------------------------------------
    batch_size: int = setting(500, "subscribers fetched and sent per batch", minimum=1)
    send_rate: float = setting(0.0, "messages per second handed to the transport; 0: no limit", minimum=0)
    max_retries: int = setting(5, "retries of a temporary failure before it is recorded failed", minimum=0)
    retry_delay: float = setting(
        60.0, "seconds before the first retry; doubles per retry, with jitter", minimum=0
    )
    retry_max_delay: float = setting(
        1800.0, "longest wait between retries (unless Retry-After asks more)", minimum=0
    )
    error_threshold: float = setting(
        0.2, "pause when more than this share of the last error_window fail", minimum=0, maximum=1
    )
    error_window: int = setting(200, "how many recent results error_threshold looks at", minimum=1)
    sender_refusal_domain_share: float = setting(
        0.02,
        "pause when receivers refuse us (sender-side reasons: DMARC, block lists, spam) for more than "
        "this share of one receiving domain's attempts; 1: never",
        minimum=0,
        maximum=1,
    )
    sender_refusal_share: float = setting(
        0.01,
        "pause when sender-side refusals exceed this share of all attempts; 1: never",
        minimum=0,
        maximum=1,
    )
    sender_refusal_minimum: int = setting(
        5, "sender-side refusals (per domain, or overall) before the two shares above apply", minimum=1
    )
    send_workers: int = setting(
        1,
        "processes sending one edition side by side, each its share of the list (for large lists on "
        "several cores)",
        minimum=1,
    )

    # -- several processes and machines: workers, broker, shared state -------------------------------
    broker_url: str = setting(
        "amqp://guest:guest@127.0.0.1:5672//",
        "Celery broker of `newsletter worker` and `send --distributed`: amqp:// (RabbitMQ) or redis://",
        schemes=("amqp", "pyamqp", "amqps", "redis", "rediss"),
    )
    worker_queue: str = setting("newsletter", "broker queue the distributed send's batches go through")
    redis_url: str = setting(
        "", "Redis for shared signup limits and the send rate (redis://host:6379/0); empty: the database"
    )
    redis_prefix: str = setting("newsletter:", "prefix of every Redis key this service writes")
    lease_seconds: float = setting(
        30.0, "a send not renewed within this many seconds is known to have crashed", minimum=2
    )
    broker_visibility_timeout: float = setting(
        600.0, "Redis broker: seconds before an unacknowledged batch is handed to another worker", minimum=1
    )

    # -- what comes back: bounces, complaints, webhooks ----------------------------------------------
    soft_bounce_threshold: int = setting(
        3, "soft bounces (distinct deliveries) within the window that suppress", minimum=1
    )
    soft_bounce_window_days: int = setting(30, "days over which soft bounces are counted", minimum=1)
    sendgrid_webhook_key: str = setting("", "public key of the signed Event Webhook (base64)")
    webhook_max_age_seconds: int = setting(
        600, "signed webhook posts older (or further ahead) than this are refused", minimum=1
    )
    bounce_processed_folder: str = setting("processed", "mailbox folder that processed bounces are moved to")

    # -- readers signing up and leaving (the web app) ------------------------------------------------
    confirm_ttl_days: int = setting(
        7, "days a confirmation link stays valid (an expired one offers a new link)", minimum=1
    )
    welcome_email: bool = setting(True, "send a welcome email after confirmation")
    signup_limit_per_ip: int = setting(
        20, "signup form posts allowed per client IP per rate_limit_window seconds; 0: no limit", minimum=0
    )
    signup_limit_per_address: int = setting(
        3, "confirmation emails sent per address per rate_limit_window seconds; 0: no limit", minimum=0
    )
    rate_limit_window: int = setting(3600, "seconds over which the signup rate limits count", minimum=1)
    purge_pending_days: int = setting(
        30, "`subscribers purge-pending` removes pending signups older than this", minimum=1
    )
    embed_frame_ancestors: str = setting(
        "*", "CSP frame-ancestors of the embeddable form, e.g. https://example.org"
    )
    trusted_proxies: str = setting(
        "",
        "reverse proxies whose X-Forwarded-For names the client, e.g. 127.0.0.1 ::1 or 10.0.0.0/8 "
        "(space or comma separated); default none: the connecting address is the client",
    )

    # -- the editor's desk (/desk/ in the web app) ---------------------------------------------------
    digests_dir: Path = setting(Path("digests"), "digest files the desk lists; uploads are saved here")
    desk_log_dir: Path = setting(Path("logs"), "where sends started from the desk write their output")
    cache_dir: Path = setting(
        Path("cache"), "SpamAssassin scores kept by message content: a send after a preflight reuses them"
    )
    desk_session_hours: int = setting(12, "hours an editor stays signed in to the desk", minimum=1)
    desk_signin_limit_per_ip: int = setting(
        30, "desk sign-in attempts allowed per client IP per desk_signin_window seconds", minimum=1
    )
    desk_signin_limit_per_account: int = setting(
        10, "desk sign-in attempts allowed per editor name per desk_signin_window seconds", minimum=1
    )
    desk_signin_window: int = setting(900, "seconds over which the desk sign-in limits count", minimum=1)
    desk_password_memory_kib: int = setting(
        65536, "memory cost of an editor's Argon2id password hash, in KiB (argon2-cffi's default)", minimum=64
    )

    # -- what the editor sees before sending (preview, preflight) ---------------------------------------
    spamassassin_command: str = setting(
        "spamassassin", "SpamAssassin program preflight runs (offline, -L); not found: the check is skipped"
    )

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check(field, getattr(self, field.name))
        if "@" not in self.from_address:
            raise ConfigError(f"from_address {self.from_address!r} has no email address in it")
        self.trusted_proxy_networks  # noqa: B018 (parsed here so a bad entry is reported at load)

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

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        networks = []
        for entry in self.trusted_proxies.replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigError(
                    f"setting trusted_proxies: {entry!r} is not an IP address or network (like 10.0.0.0/8)"
                ) from None
        return tuple(networks)

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


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def _check(field: dataclasses.Field[Any], value: Any) -> None:
    """A value against its row's bounds; the message names the setting and what it may be."""
    meta, name = field.metadata, field.name
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"setting {name}: {value!r} is not one of {', '.join(meta['choices'])}")
    if meta.get("minimum") is not None and value < meta["minimum"]:
        raise ConfigError(f"setting {name}: {value!r} is too small; it must be at least {meta['minimum']}")
    if meta.get("maximum") is not None and value > meta["maximum"]:
        raise ConfigError(f"setting {name}: {value!r} is too large; it must be at most {meta['maximum']}")
    schemes = meta.get("schemes")
    scheme, separator, _ = value.partition("://") if schemes else ("", "", "")
    if schemes and (not separator or scheme.lower() not in schemes):
        raise ConfigError(
            f"setting {name}: {value!r} must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
        )


def _coerce(name: str, raw: Any) -> Any:
    field_type = FIELDS[name].type
    if field_type in ("bool", bool):
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ConfigError(f"setting {name}: {raw!r} is not a yes/no value (use true or false)")
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
    """Add ``name = "value"`` lines to the TOML file, making it private (0600): it holds the secret."""
    existing = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    lines = "".join(f"{name} = {json.dumps(value)}\n" for name, value in values.items())
    text = existing + ("" if not existing or existing.endswith("\n") else "\n") + lines
    fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: a secret must not stay readable
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)
