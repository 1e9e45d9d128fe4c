"""Previews an editor can open before pressing send: the edition as a sample reader sees it, and the .eml.

``write_preview`` writes edition.html, edition.txt and sample.eml (what ``newsletter render`` gives);
``newsletter preview`` adds the screenshots of ``screenshots.write_screenshots``.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Settings
from newsletter.edition.digest import Digest, load_digest
from newsletter.review.sample import SampleEdition, sample_edition


def write_sample(sample: SampleEdition, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "edition.html", out / "edition.txt", out / "sample.eml"]
    paths[0].write_text(sample.html, encoding="utf-8")
    paths[1].write_text(sample.text, encoding="utf-8")
    paths[2].write_bytes(sample.eml)
    return paths


def write_preview(settings: Settings, digest: Path | Digest, out: Path) -> list[Path]:
    parsed = load_digest(digest) if isinstance(digest, Path) else digest
    return write_sample(sample_edition(settings, parsed), out)
