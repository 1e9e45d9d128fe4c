"""SpamAssassin's score is computed once per message content: a send after a preflight reuses it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from newsletter.review.spamassassin import Rule, ScoreCache, SpamReport, content_score
from tests.support.services import unavailable

MESSAGE = (
    b"From: news@example.org\r\nTo: reader@example.org\r\nSubject: This week\r\n"
    b"Date: Mon, 11 Jul 2011 07:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nThe week's news.\r\n"
)


@pytest.fixture
def program() -> str:
    found = shutil.which("spamassassin")
    if found is None:
        unavailable("Debian's spamassassin is not installed")
    return found


def test_a_message_is_scored_once_and_the_kept_report_is_the_same(tmp_path: Path, program: str) -> None:
    cache = ScoreCache(tmp_path / "cache")
    first = content_score(MESSAGE, program, cache)
    (kept,) = (tmp_path / "cache").glob("spamassassin-*.json")
    assert content_score(MESSAGE, program, cache) == first
    # What the second call returned came from the file: a report written there is what is returned.
    planted = SpamReport(9.5, 5.0, (Rule("PLANTED", 9.5, "written by the test"),))
    cache.put(cache.key(MESSAGE, program), planted)
    assert content_score(MESSAGE, program, cache) == planted
    assert kept.exists()


def test_the_date_header_is_not_part_of_the_key_but_the_rest_is(tmp_path: Path, program: str) -> None:
    cache = ScoreCache(tmp_path)
    later = MESSAGE.replace(b"Mon, 11 Jul 2011 07:00:00", b"Tue, 12 Jul 2011 09:30:00")
    assert cache.key(later, program) == cache.key(MESSAGE, program)
    assert cache.key(MESSAGE.replace(b"news.", b"NEWS!"), program) != cache.key(MESSAGE, program)
    assert cache.key(MESSAGE, "/usr/local/bin/other-spamassassin") != cache.key(MESSAGE, program)


def test_a_damaged_or_old_kept_report_is_scored_again(tmp_path: Path, program: str) -> None:
    cache = ScoreCache(tmp_path)
    key = cache.key(MESSAGE, program)
    (tmp_path / f"spamassassin-{key}.json").write_text('{"score": "half a', encoding="utf-8")
    assert cache.get(key) is None
    fresh = content_score(MESSAGE, program, cache)
    assert cache.get(key) == fresh  # rewritten whole
    stale = ScoreCache(tmp_path, max_age=-1)
    assert stale.get(key) is None
    assert json.loads((tmp_path / f"spamassassin-{key}.json").read_text())["score"] == fresh.score


def test_a_cache_that_cannot_be_written_is_no_cache(tmp_path: Path, program: str) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    cache = ScoreCache(blocked / "cache")
    report = content_score(MESSAGE, program, cache)
    assert report.required == 5.0 and cache.get(cache.key(MESSAGE, program)) is None
