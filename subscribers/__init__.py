"""The subscriber store: who is on the list, in which state, and the evidence of their consent.

This package never imports ``newsletter``: it can be used, tested and migrated on its own.
"""

from subscribers.errors import InvalidAddress, InvalidToken, StoreError, TokenExpired, TransitionRefused
from subscribers.models import ConsentEvent, ConsentKind, Status, Subscriber
from subscribers.store import Consent, Recipient, SubscriberStore

__all__ = [
    "Consent",
    "ConsentEvent",
    "ConsentKind",
    "InvalidAddress",
    "InvalidToken",
    "Recipient",
    "Status",
    "StoreError",
    "Subscriber",
    "SubscriberStore",
    "TokenExpired",
    "TransitionRefused",
]
