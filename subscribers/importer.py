"""CSV import and export of the list.

Import checks every row first and reports each bad one with its line number and reason (a bad
address, a control character, a byte that is not text); the good rows are then written in one
transaction, so a crash or a database error writes nothing rather than half. Only a file that is
not CSV text at all (a spreadsheet, an archive, an image; no email column) is refused whole; how
the text is found and its encoding told is ``subscribers.textfile``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from subscribers.errors import InvalidAddress, StoreError
from subscribers.models import Status
from subscribers.store import Consent, SubscriberStore
from subscribers.textfile import DecodedText, NotText, bad_character, decode
from subscribers.validation import clean_name, normalise_email

EMAIL_COLUMNS = ("email", "email address", "e-mail", "mail")
NAME_COLUMNS = ("name", "full name", "first name")
EXPORT_COLUMNS = ("email", "name", "status", "created_at", "confirmed_at")


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


def _read_text(path: Path, encoding: str | None) -> DecodedText:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportRefused(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return decode(raw, encoding)
    except NotText as exc:
        raise ImportRefused(f"{path}: {exc}") from None


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
    for cell in row:
        reason = bad_character(cell)
        if reason is not None:
            return f"not imported: {reason}"
    if guessed and not value.isascii():
        return (
            f"not imported: the address has letters beyond ASCII and the file's encoding ({guessed}) "
            "was guessed; check the row, or name the encoding with --encoding"
        )
    return None


def import_csv(
    store: SubscriberStore, path: Path, *, status: Status, consent: Consent, encoding: str | None = None
) -> ImportReport:
    decoded = _read_text(path, encoding)
    text = decoded.text
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused(f"{path}: the file is empty") from None
    except csv.Error as exc:
        raise ImportRefused(f"{path}: line 1: {exc}") from None
    email_at = _pick(header, EMAIL_COLUMNS)
    if email_at is None:
        if len(header) == 1 and "@" in header[0]:
            raise ImportRefused(f"{path}: line 1 must be a header row naming an 'email' column")
        raise ImportRefused(f"{path}: no 'email' column in the header row ({', '.join(header)[:200]})")
    name_at = _pick(header, NAME_COLUMNS)

    good: dict[str, str] = {}
    errors: list[RowError] = []
    duplicates = 0
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            value = row[email_at] if email_at < len(row) else ""
            problem = _row_problem(row, value, decoded.encoding if decoded.guessed else None)
            if problem is not None:
                errors.append(RowError(line, _printable(value)[:320], problem))
                continue
            try:
                address = normalise_email(value)
            except InvalidAddress as exc:
                errors.append(RowError(line, value[:320], str(exc)))
                continue
            if address in good:
                duplicates += 1
                continue
            good[address] = clean_name(row[name_at]) if name_at is not None and name_at < len(row) else ""
    except csv.Error as exc:
        raise ImportRefused(f"{path}: line {reader.line_num}: {exc}; nothing was imported") from None

    added = store.add_many(good.items(), status=status, consent=consent)
    return ImportReport(
        added, len(good) - added, duplicates, tuple(errors), decoded.encoding, decoded.guessed
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
