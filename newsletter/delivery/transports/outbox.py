"""Outbox: one .eml file per message in a folder, written atomically.

The file is named after the deterministic Message-ID, so sending the same delivery again (a resume after
a crash) rewrites the same file instead of adding a second one, and each file appears whole or not at
all (written to a temporary name in the same folder, then renamed). Use it for previews, for the demo,
and for handing a send to another system that picks files up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import MessageTemplate
from newsletter.delivery.transports.base import Outcome, SendResult, Transport
from newsletter.errors import TransportError

UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_name(message_id: str) -> str:
    return UNSAFE.sub("_", message_id.strip("<>").replace("@", "_at_")) + ".eml"


class OutboxTransport(Transport):
    name = "outbox"

    def __init__(self, directory: Path, *, fsync: bool = False) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(f"cannot create outbox folder {directory}: {exc.strerror or exc}") from None
        self.directory = directory
        self._fsync = fsync

    def write(self, message_id: str, raw: bytes) -> Path:
        target = self.directory / file_name(message_id)
        temporary = self.directory / f".{target.name}.{os.getpid()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(raw)
            if self._fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, target)
        return target

    def send(self, template: MessageTemplate, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            try:
                path = self.write(message.message_id, template.build(message))
            except OSError as exc:
                # A full disk or a permission problem hits every message alike: stop the batch.
                raise TransportError(
                    f"cannot write to outbox {self.directory}: {exc.strerror or exc}"
                ) from None
            results.append(SendResult(message.subscriber_id, Outcome.accepted, provider_id=path.name))
        return results
