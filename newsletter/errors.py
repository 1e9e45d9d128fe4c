"""The one exception tree of the project.

Everything a user or the network can get wrong surfaces as one of these, with a message written for the
person who has to act on it. Errors of the libraries underneath are translated at the boundary where
they are caught, so callers never need to know which library raised.

    NewsletterError
    ├── ConfigError            settings missing or malformed
    ├── DigestError            a digest file that cannot be read or does not validate
    ├── RenderError            templates or MJML that cannot be turned into an edition
    ├── SendRefused            a send that must not start (no secret, nothing to send, unknown edition)
    └── TransportError         a transport could not hand over a message
        ├── TemporaryFailure   try again later (4xx, timeouts, dropped connections, 429/5xx)
        └── PermanentFailure   the receiver refused for good (5xx for a recipient, 4xx API errors)

The subscriber store has its own tree (``subscribers.errors``) because it never imports this package.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(NewsletterError):
    """A setting is missing or malformed."""


class DigestError(NewsletterError):
    """A digest file cannot be loaded; the message names the file, the line where known, and the field."""


class RenderError(NewsletterError):
    """The templates could not produce an edition."""


class SendRefused(NewsletterError):
    """A send that must not start."""


class TransportError(NewsletterError):
    """A transport could not hand a message over."""

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class TemporaryFailure(TransportError):
    """Worth retrying later."""


class PermanentFailure(TransportError):
    """Retrying will not help; for a recipient this is a bounce."""
