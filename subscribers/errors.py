"""Errors of the subscriber store.

StoreError
├── InvalidAddress      an email address (or name) a person typed cannot be used; message is for them
├── TransitionRefused   the status change is not allowed (e.g. confirming an unsubscribed address)
├── UnknownSubscriber   no subscriber with that id or address
└── InvalidToken        a token that was not signed by us for this purpose, list and subscriber
    └── TokenExpired    a genuine token past its expiry (confirm links); the page offers a new one
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors."""


class InvalidAddress(StoreError, ValueError):
    """The address cannot be used; ``str(exc)`` is safe to show to the person who typed it."""


class TransitionRefused(StoreError):
    """A status change the lifecycle does not allow."""


class UnknownSubscriber(StoreError, LookupError):
    """No such subscriber."""


class InvalidToken(StoreError):
    """Forged, tampered, truncated or foreign token."""


class TokenExpired(InvalidToken):
    """Signed by us, but too old. ``subscriber_id`` lets the caller offer a fresh link."""

    def __init__(self, message: str, subscriber_id: int) -> None:
        super().__init__(message)
        self.subscriber_id = subscriber_id
