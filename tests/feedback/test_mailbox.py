"""The bounce mailbox: DSNs, ARF complaints and mailto unsubscribes matched to real deliveries and applied.

Maildir and mbox on disk; IMAP against a private Dovecot server (tests/imap_server.py).
"""

from __future__ import annotations

import imaplib
import mailbox
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.edition.digest import Digest
from newsletter.errors import ConfigError
from newsletter.feedback.mailbox import MaildirSource, MboxSource, open_source, process
from subscribers import Status
from tests.support.feedback_helpers import arf, dsn, plain, subscribe
from tests.support.imap_server import PASSWORD, USER, Dovecot

READERS = (
    "hard@example.com",
    "lost@example.com",
    "byid@example.com",
    "spam@example.com",
    "leave@example.com",
    "soft@example.com",
    "fine@example.com",
)


@pytest.fixture
def sent(
    database: Database, settings: Settings, sample_digest: Digest
) -> tuple[int, dict[str, int], dict[str, bytes]]:
    from tests.support.feedback_helpers import send_outbox

    ids = subscribe(database, *READERS)
    edition_id, messages = send_outbox(database, settings, sample_digest)
    return edition_id, ids, messages


def maildir_with(tmp_path: Path, messages: dict[str, bytes]) -> tuple[Path, dict[str, str]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path, create=True)
    keys = {name: box.add(raw) for name, raw in messages.items()}
    box.close()
    return path, keys


def status_of(database: Database, sid: int) -> Status:
    return Status(database.store.get(sid).status)


def test_every_kind_of_report_is_matched_applied_and_moved(
    tmp_path: Path, database: Database, settings: Settings, sent: tuple
) -> None:
    edition_id, ids, messages = sent
    links = Links(settings)
    verp = {email: links.verp_address(edition_id, sid) for email, sid in ids.items()}
    token = links.unsubscribe_token(ids["leave@example.com"])
    inbox = {
        # 1. the VERP envelope address (To of the bounce), no original attached
        "hard": dsn(to=verp["hard@example.com"], recipient="hard@example.com", message_id="<d1@mx>"),
        # 2. envelope lost (sent to the plain bounce address): the returned original's X-Newsletter-Ref
        "lost": dsn(
            to="bounces@example.org",
            recipient="lost@example.com",
            original=messages["lost@example.com"],
            headers_only=True,
            message_id="<d2@mx>",
        ),
        # 3. no ref at all: the original's Message-ID in the ledger and the same recipient address
        "byid": dsn(
            to="bounces@example.org",
            recipient="byid@example.com",
            original=_without_ref(messages["byid@example.com"]),
            headers_only=True,
            message_id="<d3@mx>",
        ),
        # 4. a complaint whose recipient the receiver redacted: the original's signed ref finds the reader
        "spam": arf(original=messages["spam@example.com"], recipient=None),
        # 5. the List-Unsubscribe mailto
        "leave": plain(f"unsubscribe {token}", to="unsubscribe@example.org"),
        # 6. a soft bounce (mailbox full) counts but does not suppress yet
        "soft": dsn(
            to=verp["soft@example.com"],
            recipient="soft@example.com",
            status="4.2.2",
            diagnostic="smtp; 452 4.2.2 mailbox full",
            message_id="<d6@mx>",
        ),
        # 7. an out-of-office reply: recorded as one, nothing changes
        "ooo": plain("Out of office until Monday", to=verp["fine@example.com"]),
    }
    path, keys = maildir_with(tmp_path, inbox)
    source = open_source(settings, maildir=path)
    report = {h.message: h for h in process(source, settings, database)}
    source.close()
    outcome = {name: report[key].outcome for name, key in keys.items()}
    assert outcome == {
        "hard": "applied",
        "lost": "applied",
        "byid": "applied",
        "spam": "applied",
        "leave": "applied",
        "soft": "applied",
        "ooo": "applied",
    }, report
    assert "auto_reply (vacation)" in report[keys["ooo"]].detail
    assert "VERP" in report[keys["hard"]].detail
    assert "X-Newsletter-Ref" in report[keys["lost"]].detail
    assert "Message-ID" in report[keys["byid"]].detail
    states = {email: status_of(database, sid) for email, sid in ids.items()}
    assert states == {
        "hard@example.com": Status.bounced,
        "lost@example.com": Status.bounced,
        "byid@example.com": Status.bounced,
        "spam@example.com": Status.complained,
        "leave@example.com": Status.unsubscribed,
        "soft@example.com": Status.confirmed,
        "fine@example.com": Status.confirmed,
    }
    box = mailbox.Maildir(path, create=False)
    assert len(box) == 0 and len(box.get_folder(settings.bounce_processed_folder)) == len(inbox)

    # The same messages again (say, restored from the processed folder): nothing changes.
    path2, _ = maildir_with(tmp_path / "again", inbox)
    again = process(MaildirSource(path2, "processed"), settings, database)
    assert {h.outcome for h in again} == {"duplicate"}


def test_what_cannot_be_understood_or_matched_is_kept_flagged_and_reported(
    tmp_path: Path, database: Database, settings: Settings, sent: tuple
) -> None:
    edition_id, ids, _ = sent
    forged_verp = f"bounces+e{edition_id}-s{ids['fine@example.com']}-0123456789@example.org"
    forged_token = Links(settings).unsubscribe_token(ids["fine@example.com"])[:-2] + "xx"
    inbox = {
        "forged": dsn(to=forged_verp, recipient="fine@example.com", message_id="<f1@mx>"),
        "stranger": dsn(to="bounces@example.org", recipient="fine@example.com", message_id="<f2@mx>"),
        "bad-token": plain(f"unsubscribe {forged_token}"),
        "human": plain("Re: your newsletter", body="I liked it", to="bounces@example.org"),
        "garbage": b"\x00\x01\x02 not mail at all \xff" * 10,
    }
    path, keys = maildir_with(tmp_path, inbox)
    source = MaildirSource(path, "processed")
    report = {h.message: h for h in process(source, settings, database)}
    source.close()
    assert {name: report[key].outcome for name, key in keys.items()} == dict.fromkeys(inbox, "kept")
    assert "no delivery of ours matched" in report[keys["stranger"]].detail
    assert "not an email message" in report[keys["garbage"]].detail
    assert status_of(database, ids["fine@example.com"]) is Status.confirmed
    box = mailbox.Maildir(path, create=False)
    assert len(box) == len(inbox) and all("F" in box.get_message(k).get_flags() for k in keys.values())


def test_an_mbox_is_processed_and_handled_mail_moved_to_a_sibling_mbox(
    tmp_path: Path, database: Database, settings: Settings, sent: tuple
) -> None:
    edition_id, ids, _ = sent
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path, create=True)
    box.add(
        dsn(
            to=Links(settings).verp_address(edition_id, ids["hard@example.com"]), recipient="hard@example.com"
        )
    )
    box.add(plain("Re: hello", to="bounces@example.org"))
    box.close()
    source = MboxSource(path, "processed")
    outcomes = [h.outcome for h in process(source, settings, database)]
    source.close()
    assert outcomes == ["applied", "kept"]
    assert (_count(path), _count(tmp_path / "bounces.mbox.processed")) == (1, 1)
    assert status_of(database, ids["hard@example.com"]) is Status.bounced


def test_mailbox_arguments_are_checked(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(ConfigError):
        open_source(settings)
    with pytest.raises(ConfigError):
        open_source(settings, maildir=tmp_path, mbox=tmp_path / "x")
    with pytest.raises(ConfigError, match="not a Maildir"):
        open_source(settings, maildir=tmp_path)
    with pytest.raises(ConfigError, match="imap"):
        open_source(settings, imap="http://example.org/")


def _without_ref(raw: bytes) -> bytes:
    return b"\n".join(line for line in raw.split(b"\n") if not line.lower().startswith(b"x-newsletter-ref"))


def _count(path: Path) -> int:
    box = mailbox.mbox(path, create=False)
    try:
        return len(box)
    finally:
        box.close()


def test_an_imap_folder_is_processed_handled_mail_moved_and_the_rest_flagged(
    database: Database, settings: Settings, sent: tuple
) -> None:
    edition_id, ids, _ = sent
    verp = Links(settings).verp_address(edition_id, ids["hard@example.com"])
    with Dovecot() as server:
        client = imaplib.IMAP4("127.0.0.1", server.port)
        client.login(USER, PASSWORD)
        client.append("INBOX", "", None, dsn(to=verp, recipient="hard@example.com").replace(b"\n", b"\r\n"))
        client.append("INBOX", "", None, plain("Re: hello", to="bounces@example.org"))
        client.logout()

        source = open_source(settings, imap=server.url)
        try:
            outcomes = [h.outcome for h in process(source, settings, database)]
        finally:
            source.close()
        assert outcomes == ["applied", "kept"]
        assert status_of(database, ids["hard@example.com"]) is Status.bounced

        client = imaplib.IMAP4("127.0.0.1", server.port)
        client.login(USER, PASSWORD)
        client.select("INBOX")
        _, left = client.uid("SEARCH", "ALL")
        _, flagged = client.uid("SEARCH", "FLAGGED")
        assert len(left[0].split()) == 1 and flagged[0] == left[0]
        client.select(settings.bounce_processed_folder)
        _, moved = client.uid("SEARCH", "ALL")
        assert len(moved[0].split()) == 1
        client.logout()

        # Again: the processed message is gone from INBOX; the kept one is reported again, unchanged.
        source = open_source(settings, imap=server.url)
        try:
            assert [h.outcome for h in process(source, settings, database)] == ["kept"]
        finally:
            source.close()
        with pytest.raises(ConfigError, match="IMAP"):
            open_source(settings, imap=f"imap://{USER}:wrong@127.0.0.1:{server.port}/INBOX")
