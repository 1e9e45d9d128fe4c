"""CSV import and export of the list.

Import checks every row and reports each bad one with its line number and reason (a bad address, a
control character, a byte that is not text); the good rows are written in one transaction, so a crash
or a database error writes nothing rather than half. The file is streamed: rows are checked as they
are read and staged in the database chunk by chunk (``subscribers.bulk``), so memory does not grow with
the file, and addresses are checked by ``AddressNormaliser`` (email-validator's answer, each domain
asked once). Only a file that is
not CSV text at all (a spreadsheet, an archive, an image; no email column) is refused whole; how
the text is found and its encoding told is ``subscribers.textfile``.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

from subscribers.bulk import Row
from subscribers.errors import InvalidAddress, StoreError
from subscribers.models import Status
from subscribers.store import Consent, SubscriberStore
from subscribers.textfile import Encoding, NotText, bad_character, detect, open_text
from subscribers.validation import AddressNormaliser, clean_name

EMAIL_COLUMNS = ("email", "email address", "e-mail", "mail")
NAME_COLUMNS = ("name", "full name", "first name")
EXPORT_COLUMNS = ("email", "name", "status", "created_at", "confirmed_at")
CHUNK_ROWS = 5000  # rows handed to the database at a time: memory stays one chunk whatever the file


class ImportRefused(StoreError):
    """The file as a whole cannot be imported."""


@dataclasses.dataclass(frozen=True)
class RowError:
    line: int
    value: str
    reason: str


@dataclasses.dataclass(frozen=True)
class ImportReport:
    added: int
    already_listed: int
    duplicates_in_file: int
    errors: tuple[RowError, ...]
    encoding: str = "utf-8"
    encoding_guessed: bool = False


def _pick(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower().lstrip("\ufeff") for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def _printable(value: str) -> str:
    """A cell as it can be shown in a report: control characters and stray bytes as escapes."""
    out = []
    for ch in value:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(ch if ch.isprintable() else ascii(ch)[1:-1])
    return "".join(out)


def _row_problem(row: list[str], value: str, guessed: str | None) -> str | None:
    """Why a row is not imported before its address is even looked at, or None."""
    reason = bad_character("\n".join(row))  # a newline is allowed in a cell: the first bad cell speaks
    if reason is not None:
        return f"not imported: {reason}"
    if guessed and not value.isascii():
        return (
            f"not imported: the address has letters beyond ASCII and the file's encoding ({guessed}) "
            "was guessed; check the row, or name the encoding with --encoding"
        )
    return None


@dataclasses.dataclass
class _Columns:
    email: int
    name: int | None
    guessed: str | None  # the encoding's name when it was guessed


def _header(reader: Iterator[list[str]], path: Path) -> tuple[int, int | None]:
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused(f"{path}: the file is empty") from None
    email_at = _pick(header, EMAIL_COLUMNS)
    if email_at is None:
        if len(header) == 1 and "@" in header[0]:
            raise ImportRefused(f"{path}: line 1 must be a header row naming an 'email' column")
        raise ImportRefused(f"{path}: no 'email' column in the header row ({', '.join(header)[:200]})")
    return email_at, _pick(header, NAME_COLUMNS)


def _checked_chunks(reader: Any, columns: _Columns, errors: list[RowError]) -> Iterator[list[Row]]:
    """The good rows in chunks, as (line, address, name); each bad one goes to ``errors``."""
    normalise = AddressNormaliser()
    email_at, name_at = columns.email, columns.name
    chunk: list[Row] = []
    for row in reader:
        if not "".join(row).strip():
            continue
        line = reader.line_num
        value = row[email_at] if email_at < len(row) else ""
        problem = _row_problem(row, value, columns.guessed)
        if problem is not None:
            errors.append(RowError(line, _printable(value)[:320], problem))
            continue
        try:
            address = normalise(value)
        except InvalidAddress as exc:
            errors.append(RowError(line, value[:320], str(exc)))
            continue
        name = clean_name(row[name_at]) if name_at is not None and name_at < len(row) else ""
        chunk.append((line, address, name))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_csv(
    store: SubscriberStore, path: Path, *, status: Status, consent: Consent, encoding: str | None = None
) -> ImportReport:
    try:
        with path.open("rb") as stream:
            try:
                found = detect(stream, encoding)
            except NotText as exc:
                raise ImportRefused(f"{path}: {exc}") from None
            text = open_text(stream, found)
            try:
                return _import(store, path, text, found, status=status, consent=consent)
            finally:
                text.detach()  # the file is closed by its own block, not when the wrapper is collected
    except OSError as exc:
        raise ImportRefused(f"{path}: cannot read: {exc.strerror or exc}") from None


def _import(
    store: SubscriberStore, path: Path, text: TextIO, found: Encoding, *, status: Status, consent: Consent
) -> ImportReport:
    reader = csv.reader(text)
    errors: list[RowError] = []
    try:
        email_at, name_at = _header(reader, path)
        columns = _Columns(email_at, name_at, found.name if found.guessed else None)
        with store.importing(status=status, consent=consent) as staging:
            for chunk in _checked_chunks(reader, columns, errors):
                staging.stage(chunk)
            staged = staging.finish()
    except csv.Error as exc:
        where = f"line {reader.line_num}: {exc}"
        raise ImportRefused(
            f"{path}: {where}" + ("; nothing was imported" if reader.line_num > 1 else "")
        ) from None
    return ImportReport(
        staged.added,
        staged.already_listed,
        staged.duplicates_in_file,
        tuple(errors),
        found.name,
        found.guessed,
    )


def export_rows(store: SubscriberStore) -> Iterator[tuple[str, ...]]:
    yield EXPORT_COLUMNS
    for row in store.iter_all():
        yield (
            row.email,
            row.name,
            str(row.status),
            row.created_at.isoformat() if row.created_at else "",
            row.confirmed_at.isoformat() if row.confirmed_at else "",
        )


def export_csv(store: SubscriberStore, out: IO[str]) -> int:
    """Write the list as CSV; returns the number of subscribers (header row not counted)."""
    writer = csv.writer(out)
    rows = 0
    for row in export_rows(store):
        # A leading =, +, - or @ makes spreadsheets evaluate a cell: neutralise formula injection.
        writer.writerow([f"'{cell}" if cell[:1] in ("=", "+", "-", "@") else cell for cell in row])
        rows += 1
    return rows - 1
