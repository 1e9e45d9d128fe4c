"""``newsletter bounces process``: read the bounce mailbox, apply what it says, tidy what was handled.

Three sources behind one small interface: a Maildir, an mbox file, an IMAP folder. Each message is read
by ``inbox.InboxReader`` and its events applied by the policy; then a message that was understood
(applied, a duplicate, an auto-reply) is moved out of the way (Maildir: the ``processed`` sub-folder;
mbox: a sibling ``PATH.processed`` mbox; IMAP: the ``processed`` folder), while a message that was not
understood or matched nobody is left where it is (flagged in Maildir and IMAP) and listed in the
report. Nothing is ever deleted without a copy having been written first.
"""

from __future__ import annotations

import dataclasses
import imaplib
import mailbox
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.delivery.links import Links
from newsletter.errors import ConfigError
from newsletter.feedback.apply import FeedbackPolicy
from newsletter.feedback.events import MalformedFeedback
from newsletter.feedback.inbox import InboxReader


@dataclasses.dataclass(frozen=True)
class Handled:
    """One line of the processing report."""

    message: str
    outcome: str  # applied, duplicate, unmatched, ignored, kept
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Source(Protocol):
    def messages(self) -> Iterator[tuple[str, bytes]]: ...
    def done(self, key: str) -> None: ...
    def keep(self, key: str) -> None: ...
    def close(self) -> None: ...


class MaildirSource:
    def __init__(self, path: Path, processed_folder: str) -> None:
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise ConfigError(f"{path} is not a Maildir (no cur/ and new/ inside)")
        self._box = mailbox.Maildir(path, factory=None, create=False)
        self._folder_name = processed_folder

    def messages(self) -> Iterator[tuple[str, bytes]]:
        for key in sorted(self._box.keys()):
            yield key, self._box.get_bytes(key)

    def done(self, key: str) -> None:
        if self._folder_name in self._box.list_folders():
            folder = self._box.get_folder(self._folder_name)
        else:
            folder = self._box.add_folder(self._folder_name)
        message = self._box.get_message(key)
        message.add_flag("S")
        message.set_subdir("cur")
        folder.add(message)  # copy first, then remove: a crash in between leaves a duplicate, not a loss
        self._box.remove(key)

    def keep(self, key: str) -> None:
        message = self._box.get_message(key)
        if "F" not in message.get_flags():
            message.add_flag("F")
            message.set_subdir("cur")
            self._box[key] = message

    def close(self) -> None:
        self._box.close()


class MboxSource:
    def __init__(self, path: Path, processed_folder: str) -> None:
        if not path.is_file():
            raise ConfigError(f"{path} is not an mbox file")
        self._box = mailbox.mbox(path, create=False)
        self._done = mailbox.mbox(path.with_name(f"{path.name}.{processed_folder}"), create=True)
        self._box.lock()
        self._removed = False
        self._keys: dict[str, str] = {}  # mailbox.mbox keys are ints at run time, str in the stubs

    def messages(self) -> Iterator[tuple[str, bytes]]:
        for key in list(self._box.keys()):
            self._keys[str(key)] = key
            yield str(key), self._box.get_bytes(key)

    def done(self, key: str) -> None:
        self._done.add(self._box.get_message(self._keys[key]))
        self._done.flush()  # the copy is on disk before the original goes
        self._box.discard(self._keys[key])
        self._removed = True

    def keep(self, key: str) -> None:
        """An mbox cannot flag in place without rewriting it; the message stays and is reported."""

    def close(self) -> None:
        try:
            if self._removed:
                self._box.flush()
        finally:
            self._box.unlock()
            self._box.close()
            self._done.close()


class ImapSource:
    """``imap[s]://user:password@host[:port]/FOLDER`` (default INBOX; imaps and ?starttls=1 use TLS)."""

    def __init__(self, url: str, processed_folder: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise ConfigError("--imap takes imap://user:password@host[:port]/FOLDER (or imaps://)")
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        try:
            if parts.scheme == "imaps":
                self._imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    parts.hostname, parts.port or 993, ssl_context=ssl.create_default_context()
                )
            else:
                self._imap = imaplib.IMAP4(parts.hostname, parts.port or 143)
        except OSError as exc:
            raise ConfigError(f"IMAP {parts.hostname}: {exc}") from None
        try:
            if parts.scheme == "imap" and "starttls=1" in parts.query:
                self._imap.starttls(ssl.create_default_context())
            self._imap.login(unquote(parts.username or ""), unquote(parts.password or ""))
            status, _ = self._imap.select(_quote(folder))
            if status != "OK":
                raise ConfigError(f"IMAP folder {folder!r} cannot be opened")
        except (OSError, imaplib.IMAP4.error, ConfigError) as exc:
            self._imap.shutdown()  # never leave the socket open behind a refusal
            raise ConfigError(f"IMAP {parts.hostname}: {exc}") from None
        self._processed = processed_folder
        self._created = False

    def messages(self) -> Iterator[tuple[str, bytes]]:
        status, data = self._imap.uid("SEARCH", "UNDELETED")
        if status != "OK" or not data or not isinstance(data[0], bytes):
            return
        for uid in data[0].decode("ascii", "replace").split():
            status, fetched = self._imap.uid("FETCH", uid, "(BODY.PEEK[])")
            for item in fetched or []:
                if status == "OK" and isinstance(item, tuple) and isinstance(item[1], bytes):
                    yield uid, item[1]

    def done(self, key: str) -> None:
        if not self._created:
            self._imap.create(_quote(self._processed))  # "already exists" is fine
            self._created = True
        status, _ = self._imap.uid("COPY", key, _quote(self._processed))
        if status == "OK":
            self._imap.uid("STORE", key, "+FLAGS", r"(\Seen \Deleted)")

    def keep(self, key: str) -> None:
        self._imap.uid("STORE", key, "+FLAGS", r"(\Flagged)")

    def close(self) -> None:
        try:
            self._imap.expunge()
            self._imap.close()
            self._imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def open_source(
    settings: Settings, *, mbox: Path | None = None, maildir: Path | None = None, imap: str | None = None
) -> Source:
    chosen = [s for s in (mbox, maildir, imap) if s]
    if len(chosen) != 1:
        raise ConfigError("name exactly one mailbox: --mbox PATH, --maildir PATH or --imap URL")
    folder = settings.bounce_processed_folder
    if maildir:
        return MaildirSource(maildir, folder)
    if mbox:
        return MboxSource(mbox, folder)
    assert imap is not None
    return ImapSource(imap, folder)


def process(source: Source, settings: Settings, database: Database) -> list[Handled]:
    """Read, apply and tidy every message of ``source``; the report has one line per message."""
    reader = InboxReader(Links(settings), database.sessions)
    policy = FeedbackPolicy(database.sessions, settings)
    report: list[Handled] = []
    for key, raw in source.messages():
        try:
            reading = reader.read(raw)
        except MalformedFeedback as exc:
            source.keep(key)
            report.append(Handled(key, "kept", str(exc)))
            continue
        if reading.outcome == "kept":
            source.keep(key)
            report.append(Handled(key, "kept", reading.detail))
            continue
        outcome = "ignored"
        for decision in policy.apply_all(list(reading.events)):
            outcome = decision.outcome
            if decision.outcome == "unmatched":
                break
        if outcome == "unmatched":
            source.keep(key)
            report.append(Handled(key, "kept", f"{reading.detail}; the subscriber no longer exists"))
            continue
        source.done(key)
        report.append(Handled(key, outcome, reading.detail))
    return report
