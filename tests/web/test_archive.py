"""The archive: past editions at stable URLs, an Atom feed, the signup form; never a reader's details."""

from __future__ import annotations

import datetime as dt

import feedparser

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.prepare import prepare_edition
from newsletter.edition.digest import Digest
from newsletter.edition.render import Renderer
from newsletter.edition.slots import slot_marker
from newsletter.edition.stored import EditionStatus

KEY = "2011-07-11-weekly-highlights"


def _store(settings: Settings, database: Database, digest: Digest) -> int:
    return prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings).edition.id


def test_a_draft_is_not_in_the_archive(client, settings, database, sample_digest) -> None:
    _store(settings, database, sample_digest)
    assert client.get(f"/archive/{KEY}/").status_code == 404
    assert KEY not in client.get("/archive/").text
    assert feedparser.parse(client.get("/archive/feed.atom").content).entries == []


def test_a_started_send_is_in_the_archive_without_personal_slots(
    client, settings, database, sample_digest
) -> None:
    edition_id = _store(settings, database, sample_digest)
    assert database.ledger.transition_edition(edition_id, [EditionStatus.draft], EditionStatus.sending)
    page = client.get(f"/archive/{KEY}/")
    assert page.status_code == 200 and "Deep Dissatisfaction" in page.text
    assert "__nl_slot_" not in page.text and "Hello" not in page.text and "/u/" not in page.text
    assert "View this edition in your browser" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert client.get(f"/archive/{KEY}", follow_redirects=False).headers["location"] == f"/archive/{KEY}/"
    index = client.get("/archive/")
    assert f'href="/archive/{KEY}/"' in index.text and 'name="email"' in index.text
    assert "A career diplomat defects" in index.text  # the preheader


def test_publish_puts_a_draft_in_the_archive(client, settings, database, sample_digest) -> None:
    edition_id = _store(settings, database, sample_digest)
    assert database.ledger.publish(edition_id) and not database.ledger.publish(edition_id)
    assert client.get(f"/archive/{KEY}/").status_code == 200


def test_the_feed_is_valid_atom(client, settings, database, sample_digest) -> None:
    database.ledger.publish(_store(settings, database, sample_digest))
    later = sample_digest.model_copy(
        update={"issue": "Special <Edition> & more", "date": dt.date(2011, 7, 18), "title": "Tom & <Jerry>"}
    )
    database.ledger.publish(_store(settings, database, later))
    response = client.get("/archive/feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo and feed.version == "atom10"
    assert feed.feed.id == "https://news.example.org/archive/" and feed.feed.title == "Burma Partnership"
    assert feed.feed.updated_parsed is not None and feed.feed.author_detail.name == "Burma Partnership"
    assert {link.rel for link in feed.feed.links} == {"self", "alternate"}
    assert [e.link for e in feed.entries] == [
        "https://news.example.org/archive/2011-07-18-special-edition-more/",
        f"https://news.example.org/archive/{KEY}/",
    ]
    assert feed.entries[0].title == "Tom & <Jerry>"
    for entry in feed.entries:  # RFC 4287 4.1.2: every entry has id, title, updated; here a summary too
        assert entry.id == entry.link and entry.title and entry.updated_parsed and entry.summary


def test_unknown_and_malformed_keys_are_404(client) -> None:
    for path in (
        "/archive/nothing/",
        "/archive/2011-07-11-none/",
        "/archive/..%2f..%2fetc/",
        "/archive/%3Cscript%3E/",
    ):
        response = client.get(path)
        assert response.status_code == 404 and "<script" not in response.text


def test_every_mailed_edition_links_to_its_web_copy(settings, sample_digest) -> None:
    rendered = Renderer(settings.templates_dir).render_edition(sample_digest, settings)
    url = f"https://news.example.org/archive/{KEY}/"
    assert f'href="{url}"' in rendered.html and url in rendered.text
    web = Renderer(settings.templates_dir).render_edition(sample_digest, settings, web_copy=True)
    assert slot_marker("name") not in web.html and slot_marker("unsubscribe_url") not in web.html
