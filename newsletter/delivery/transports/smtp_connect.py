"""Where to send SMTP (``SmtpUrl``) and how a connection is opened: greeting, EHLO, STARTTLS, AUTH.

Opening is the rare, fiddly part of SMTP (TLS upgrade, login mechanisms), so smtplib does it, blocking,
with a timeout. Once the session is ready the transport takes the socket over and drives it itself.
Failures here concern every message alike, so they raise: TemporaryFailure when trying again later can
help (unreachable, 4xx greeting), PermanentFailure when it cannot (login refused, TLS not trusted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import smtplib
import ssl
import time
from urllib.parse import parse_qs, unquote, urlsplit

from newsletter.delivery.transports.smtp_wire import reply_text
from newsletter.errors import ConfigError, PermanentFailure, TemporaryFailure

CONNECT_ATTEMPTS = 3
CONNECT_PAUSE = 0.2


@dataclasses.dataclass(frozen=True)
class SmtpUrl:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str = dataclasses.field(default="", repr=False)
    password: str = dataclasses.field(default="", repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("smtp_url must look like smtp://user:pass@host:port (?starttls=1) or smtps://…")
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 25)
        except ValueError:
            raise ConfigError("smtp_url has an invalid port") from None
        if parts.scheme == "smtps" and starttls:
            raise ConfigError("smtp_url: smtps:// is TLS from the start; starttls=1 applies to smtp:// only")
        return cls(
            parts.hostname,
            port,
            parts.scheme == "smtps",
            starttls,
            unquote(parts.username or ""),
            unquote(parts.password or ""),
        )

    def __str__(self) -> str:
        """For messages: never shows the password."""
        user = f"{self.username}@" if self.username else ""
        tls = "?starttls=1" if self.starttls else ""
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{user}{self.host}:{self.port}{tls}"


@dataclasses.dataclass(frozen=True)
class Opener:
    """Opens ready sessions to one server: retried a few times, since a busy relay refuses for a moment."""

    url: SmtpUrl
    timeout: float
    tls_context: ssl.SSLContext | None  # None for a server spoken to without TLS
    local_hostname: str | None = None

    def open(self) -> smtplib.SMTP:
        last: TemporaryFailure | None = None
        for attempt in range(CONNECT_ATTEMPTS):
            if attempt:
                time.sleep(CONNECT_PAUSE * attempt)
            try:
                return self._open_once()
            except TemporaryFailure as exc:
                last = exc
        assert last is not None
        raise last

    def _open_once(self) -> smtplib.SMTP:
        where = str(self.url)
        connection: smtplib.SMTP | None = None
        try:
            if self.url.implicit_tls:
                connection = smtplib.SMTP_SSL(
                    self.url.host,
                    self.url.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=self.tls_context,
                )
            else:
                connection = smtplib.SMTP(
                    self.url.host, self.url.port, local_hostname=self.local_hostname, timeout=self.timeout
                )
            connection.ehlo()
            if self.url.starttls:
                connection.starttls(context=self.tls_context)
                connection.ehlo()
            if self.url.username:
                connection.login(self.url.username, self.url.password)
        except smtplib.SMTPAuthenticationError as exc:
            discard(connection)
            raise PermanentFailure(
                f"the SMTP server {where} refused the login: {exc.smtp_code} {reply_text(exc.smtp_error)}",
                code=exc.smtp_code,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            discard(connection)
            raise PermanentFailure(
                f"the SMTP server {where} does not support what smtp_url asks: {exc}"
            ) from None
        except ssl.SSLError as exc:
            discard(connection)
            raise PermanentFailure(f"TLS with {where} failed: {exc.reason or exc}") from None
        except smtplib.SMTPResponseException as exc:
            discard(connection)
            error = TemporaryFailure if exc.smtp_code < 500 else PermanentFailure
            raise error(
                f"the SMTP server {where} answered {exc.smtp_code} {reply_text(exc.smtp_error)}",
                code=exc.smtp_code,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            discard(connection)
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            )
            raise TemporaryFailure(f"cannot reach the SMTP server {where}: {reason}") from None
        return connection


def discard(connection: smtplib.SMTP | None) -> None:
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.close()
