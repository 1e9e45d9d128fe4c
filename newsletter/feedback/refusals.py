"""Pause a send that receivers are refusing because of *us*, before it burns through the list.

When a receiving domain answers 550 5.7.26 (DMARC), 5.7.1 "blocked using Spamhaus" or 421 4.7.28 "unusual
rate of unsolicited mail", every further message to it fails the same way and teaches it that we are a
bad sender. So the send loop shows every result to a ``RefusalWatch``; the watch classifies the refusals
(``classify``, the same rules as for bounces) and, once sender-side refusals exceed
``sender_refusal_domain_share`` of one receiving domain's attempts or ``sender_refusal_share`` of all
attempts, returns the reason the send must pause, in words the editor can act on. Either share counts
only once ``sender_refusal_minimum`` refusals have been seen, so the first unlucky reply of a send
does not stop it. Nobody is suppressed for these refusals (``apply``); they are counted on the edition.

With ``send_workers = N`` each worker watches its own share of the list.
"""

from __future__ import annotations

import collections
import dataclasses

from newsletter.config import Settings
from newsletter.delivery.transports.base import Outcome, SendResult
from newsletter.feedback.reasons import Fault, reason


@dataclasses.dataclass
class _Tally:
    attempts: int = 0
    refused: int = 0
    reasons: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    last_reply: str = ""


class RefusalWatch:
    """Counts attempts and sender-side refusals per receiving domain; says when the send must pause."""

    def __init__(self, domain_share: float, overall_share: float, minimum: int) -> None:
        self.domain_share = domain_share
        self.overall_share = overall_share
        self.minimum = max(1, minimum)
        self._domains: dict[str, _Tally] = collections.defaultdict(_Tally)
        self._overall = _Tally()

    @classmethod
    def from_settings(cls, settings: Settings) -> RefusalWatch:
        return cls(
            settings.sender_refusal_domain_share,
            settings.sender_refusal_share,
            settings.sender_refusal_minimum,
        )

    def observe(self, recipient: str, result: SendResult) -> str:
        """Record one result for ``recipient``; the reason to pause the send, or ""."""
        domain = recipient.rpartition("@")[2].lower() or "(no domain)"
        tally = self._domains[domain]
        tally.attempts += 1
        self._overall.attempts += 1
        if result.outcome is Outcome.accepted:
            return ""
        # Imported at the first refusal: the wordings compile ~100 patterns (0.05 s), which a send
        # whose every message is accepted (the usual one) never needs.
        from newsletter.feedback.classify import classify

        code = str(result.code) if result.code else ""
        found = classify("", f"{code} {result.detail}", temporary=result.outcome is Outcome.temporary)
        if found.fault is not Fault.sender:
            return ""
        for counted in (tally, self._overall):
            counted.refused += 1
            counted.reasons[found.reason] += 1
            counted.last_reply = " ".join(result.detail.split())[:200]
        if self._over(tally, self.domain_share):
            return self._message(domain, tally, self.domain_share)
        if self._over(self._overall, self.overall_share):
            return self._message("receivers overall", self._overall, self.overall_share)
        return ""

    def _over(self, tally: _Tally, share: float) -> bool:
        return share < 1 and tally.refused >= self.minimum and tally.refused > share * tally.attempts

    @staticmethod
    def _message(where: str, tally: _Tally, share: float) -> str:
        name, _count = tally.reasons.most_common(1)[0]
        return (
            f"receivers refused us: {where} refused {tally.refused} of {tally.attempts} messages "
            f"({tally.refused / tally.attempts:.0%}, threshold {share:.0%}) because "
            f"{reason(name).meaning} ({name}); last reply: {tally.last_reply or 'none'}"
        )
