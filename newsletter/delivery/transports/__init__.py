"""Transports hand finished messages to the world: one small interface (``base.Transport``), one module each.

``open_transport`` is the only place that maps a setting to a class, so adding a provider touches this
function and its own module, nothing else.
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.delivery.transports.base import Transport
from newsletter.errors import ConfigError

TRANSPORTS = ("outbox", "discard", "smtp", "sendgrid")


def open_transport(settings: Settings) -> Transport:
    name = settings.transport
    if name == "outbox":
        from newsletter.delivery.transports.outbox import OutboxTransport

        return OutboxTransport(settings.outbox_dir)
    if name == "discard":
        from newsletter.delivery.transports.discard import DiscardTransport

        return DiscardTransport()
    if name == "smtp":
        from newsletter.delivery.transports.smtp import SmtpTransport

        return SmtpTransport.from_settings(settings)
    if name == "sendgrid":
        from newsletter.delivery.transports.sendgrid import SendGridTransport

        return SendGridTransport.from_settings(settings)
    raise ConfigError(f"unknown transport {name!r}; choose one of: {', '.join(TRANSPORTS)}")
