"""What the desk tells an editor about an edition before it goes out, in words: preflight's findings.

``DeskFindings.of(edition)`` runs ``review.preflight`` (the same rules as ``newsletter preflight``,
SpamAssassin included where it is installed) on the stored digest and keeps the result for that
edition's content, so only the first look after an upload waits for the spam check. A stored digest
that no longer loads (an edition stored by an older version) gets one finding saying so.
"""

from __future__ import annotations

import collections
import dataclasses

from pydantic import ValidationError

from newsletter.config import Settings
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from newsletter.edition.stored import Edition
from newsletter.review.findings import Finding, Severity
from newsletter.review.preflight import run_preflight

KEPT = 32


@dataclasses.dataclass
class DeskFindings:
    settings: Settings
    renderer: Renderer
    _kept: collections.OrderedDict[tuple[str, str], list[Finding]] = dataclasses.field(
        default_factory=collections.OrderedDict
    )

    def of(self, edition: Edition) -> list[Finding]:
        key = (edition.key, edition.content_hash)
        if key not in self._kept:
            self._kept[key] = self._run(edition)
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        return self._kept[key]

    def _run(self, edition: Edition) -> list[Finding]:
        try:
            digest = Digest.model_validate_json(edition.digest_json)
        except ValidationError:
            return [
                Finding(Severity.warning, "stored", "The stored digest could not be read back for checks.")
            ]
        return run_preflight(self.settings, digest, renderer=self.renderer)
