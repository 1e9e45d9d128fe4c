"""One send's own state and what it reports: why it stopped (if it did), and the summary the CLI prints.

A ``Sender`` may run several sends in its life (a resume, the retry pass); what belongs to one run lives
in a ``SendRun`` made when the run starts, so nothing of a finished send leaks into the next. A stop is
one ``Stop``: a reason from a fixed set that code branches on, and the detail a person reads.
"""

from __future__ import annotations

import dataclasses
import enum


class StopReason(enum.StrEnum):
    """Why a send ended before every delivery was final."""

    paused = "paused"  # `newsletter pause`: the edition waits for a resume
    cancelled = "cancelled"  # `newsletter cancel`: for good, never resumed
    threshold = "threshold"  # too many recent results failed; the edition is paused
    transport = "transport"  # the transport cannot work at all (credentials, disk, server); paused
    refused = "refused"  # receivers refuse us (DMARC, block lists …) beyond the shares; paused

    @property
    def resumable(self) -> bool:
        return self is not StopReason.cancelled


@dataclasses.dataclass(frozen=True, slots=True)
class Stop:
    reason: StopReason
    detail: str = ""

    def __str__(self) -> str:
        """The words users see (``stopped`` in ``--json``), the same as when stops were plain strings."""
        if self.reason is StopReason.paused:
            return "paused by `newsletter pause`"
        if self.reason is StopReason.cancelled:
            return "cancelled"
        if self.reason is StopReason.threshold:
            return f"error threshold reached: {self.detail}"
        return self.detail


@dataclasses.dataclass(slots=True)
class SendRun:
    """The state of one run of the send loop: its stop, and when the edition's status was last read."""

    stop: Stop | None = None
    checked: float = 0.0  # time.monotonic() of the last status read

    def halt(self, reason: StopReason, detail: str = "") -> None:
        self.stop = Stop(reason, detail)


@dataclasses.dataclass
class SendSummary:
    edition: str
    transport: str
    recipients: int = 0
    accepted: int = 0
    bounced: int = 0
    failed: int = 0
    retried: int = 0
    deferred: int = 0
    already_sent: int = 0
    seconds: float = 0.0
    status: str = ""
    stop: Stop | None = None

    @property
    def stopped(self) -> str:
        """Why the send stopped, in words; empty when it ran to the end."""
        return str(self.stop) if self.stop is not None else ""

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "stop"}
        return {
            **fields,
            "stopped": self.stopped,
            "rate": round(self.rate, 1),
            "seconds": round(self.seconds, 3),
        }
