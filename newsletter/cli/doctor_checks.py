"""The checks of ``newsletter doctor``: is this installation ready to send? What is wrong, in words.

Each check is a function returning a list of findings; a finding is ``ok`` (said once, so the output
shows what was looked at), a ``warning`` (works, but probably not what a publisher wants: the
example.org sender, plain http links) or a ``problem`` (something will fail). Exit 1 when any check found
a problem. Nothing here sends mail or changes the database; the network is touched only to open (and
close) a connection to the database, the broker, Redis and the transport.

DNS is checked offline: the names the service puts in messages must be well-formed (a From domain, a
DKIM selector that is a DNS label, a List-Id), and the DKIM record to publish is printed, since what the
world's resolvers hold cannot be known from here without traffic leaving the machine.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.database import HEAD_REVISION, create_database_engine, is_current
from newsletter.delivery.dkim import DkimSigner
from newsletter.delivery.transports.smtp_connect import Opener, SmtpUrl, discard
from newsletter.dispatch.celery_app import broker_problem, safe_url
from newsletter.errors import ConfigError, NewsletterError

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TIMEOUT = 3.0


@dataclasses.dataclass(frozen=True)
class Finding:
    check: str
    level: str  # ok, warning, problem
    text: str


Check = Callable[[Settings], list[Finding]]


def valid_domain(name: str) -> bool:
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = ascii_name.rstrip(".").split(".")
    return len(ascii_name) <= 253 and len(labels) >= 2 and all(LABEL.match(label) for label in labels)


def check_configuration(settings: Settings) -> list[Finding]:
    found = []
    try:
        settings.require_secret()
    except ConfigError as exc:
        found.append(Finding("configuration", "problem", str(exc)))
    if not settings.postal_address.strip():
        found.append(
            Finding("configuration", "problem", "no postal_address: every send is refused without one")
        )
    if settings.from_domain in ("example.org", "example.com", "example.net"):
        found.append(Finding("configuration", "warning", f"from_address is at {settings.from_domain}"))
    if not settings.base_url.startswith("https://"):
        found.append(Finding("configuration", "warning", f"base_url {settings.base_url} is not https"))
    return found or [Finding("configuration", "ok", "secret key, postal address and sender are set")]


def check_database(settings: Settings) -> list[Finding]:
    try:
        engine = create_database_engine(settings.database_url)
    except ConfigError as exc:
        return [Finding("database", "problem", str(exc))]
    where = engine.url.render_as_string()
    file = engine.url.database if engine.dialect.name == "sqlite" else None
    if file and file != ":memory:" and not Path(file).exists():  # opening it would create it
        engine.dispose()
        return [Finding("database", "problem", f"{where}: no such database file; run `newsletter init`")]
    try:
        current = is_current(engine)
    except Exception as exc:  # the driver's connection errors: one line, whichever driver
        return [Finding("database", "problem", f"cannot connect to {where}: {getattr(exc, 'orig', exc)}")]
    finally:
        engine.dispose()
    if not current:
        return [
            Finding(
                "migrations", "problem", f"{where} is not at migration {HEAD_REVISION}: run `newsletter init`"
            )
        ]
    return [Finding("database", "ok", f"{where}, schema at migration {HEAD_REVISION}")]


def check_broker(settings: Settings) -> list[Finding]:
    problem = broker_problem(settings, TIMEOUT)
    if problem:
        return [
            Finding(
                "broker", "problem", f"{problem} (needed by `newsletter worker` and `send --distributed`)"
            )
        ]
    return [
        Finding("broker", "ok", f"{safe_url(settings.broker_url)} answers (queue {settings.worker_queue})")
    ]


def check_redis(settings: Settings) -> list[Finding]:
    if not settings.redis_url:
        return [
            Finding(
                "redis",
                "ok",
                "not configured: signup limits and the send rate are shared through the database",
            )
        ]
    import redis

    from newsletter.shared_limits import connect_redis

    try:
        client = connect_redis(settings.redis_url)
        client.ping()
        client.close()
    except (redis.RedisError, ConfigError) as exc:
        return [Finding("redis", "problem", f"cannot reach {safe_url(settings.redis_url)}: {exc}")]
    return [Finding("redis", "ok", f"{safe_url(settings.redis_url)} answers")]


def check_transport(settings: Settings) -> list[Finding]:
    if settings.transport == "discard":
        return [Finding("transport", "warning", "discard: messages are built and thrown away (a rehearsal)")]
    if settings.transport == "outbox":
        return _check_outbox(settings.outbox_dir)
    if settings.transport == "smtp":
        return _check_smtp(settings)
    return _check_sendgrid(settings)


def _check_outbox(folder: Path) -> list[Finding]:
    existing = folder if folder.exists() else next((p for p in folder.parents if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        return [Finding("transport", "problem", f"outbox: {existing} is not a writable folder")]
    return [Finding("transport", "ok", f"outbox: writes .eml files to {folder}")]


def _check_smtp(settings: Settings) -> list[Finding]:
    try:
        url = SmtpUrl.parse(settings.smtp_url)
        connection = Opener(url, min(settings.smtp_timeout, TIMEOUT), ssl.create_default_context()).open()
    except NewsletterError as exc:
        return [Finding("transport", "problem", f"smtp: {exc}")]
    discard(connection)
    return [Finding("transport", "ok", f"smtp: {url} greets, and takes the login and TLS asked for")]


def _check_sendgrid(settings: Settings) -> list[Finding]:
    found = []
    if not settings.sendgrid_api_key:
        found.append(Finding("transport", "problem", "sendgrid: no sendgrid_api_key"))
    parts = urlsplit(settings.sendgrid_host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=TIMEOUT).close()
    except OSError as exc:
        found.append(
            Finding("transport", "problem", f"sendgrid: cannot reach {parts.hostname}:{port}: {exc}")
        )
    return found or [Finding("transport", "ok", f"sendgrid: {parts.hostname}:{port} accepts connections")]


def check_dkim(settings: Settings) -> list[Finding]:
    if not settings.dkim_key_path:
        level = "warning" if settings.transport == "smtp" else "ok"
        return [Finding("dkim", level, "no dkim_key_path: SMTP messages are not signed")]
    try:
        signer = DkimSigner.from_settings(settings)
    except ConfigError as exc:
        return [Finding("dkim", "problem", str(exc))]
    assert signer is not None
    selector, domain = signer.selector.decode(), signer.domain.decode()
    if not LABEL.match(selector.lower()):
        return [Finding("dkim", "problem", f"dkim_selector {selector!r} is not a DNS label")]
    record = signer.public_dns_record().decode()
    return [Finding("dkim", "ok", f'key loads; publish TXT {selector}._domainkey.{domain} "{record}"')]


def check_names(settings: Settings) -> list[Finding]:
    found = []
    names = {
        "from_address": settings.from_domain,
        "bounce_address": settings.effective_bounce_address.rpartition("@")[2],
        "unsubscribe_mailto": settings.effective_unsubscribe_mailto.rpartition("@")[2],
        "list_id": settings.effective_list_id,
        "base_url": urlsplit(settings.base_url).hostname or "",
    }
    for setting, name in names.items():
        if setting == "base_url" and name in ("127.0.0.1", "localhost"):
            found.append(
                Finding("dns", "warning", f"base_url points at {name}: links in emails work only here")
            )
        elif not valid_domain(name):
            found.append(Finding("dns", "problem", f"{setting}: {name!r} is not a valid domain name"))
    return found or [Finding("dns", "ok", "the domains in From, bounces, List-Id and links are well-formed")]


CHECKS: dict[str, Check] = {
    "configuration": check_configuration,
    "database": check_database,
    "broker": check_broker,
    "redis": check_redis,
    "transport": check_transport,
    "dkim": check_dkim,
    "dns": check_names,
}
