"""CSV import and export of the list.

Import checks every row first and reports each bad one with its line number and reason; the good rows
are then written in one transaction, so a crash or a database error writes nothing rather than half.
A file that is not CSV text at all (binary, wrong encoding, no email column) is refused whole.
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


def _pick(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower().lstrip("\ufeff") for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportRefused(f"{path}: cannot read: {exc.strerror or exc}") from None
    if b"\x00" in raw[:8192]:
        raise ImportRefused(f"{path}: this is a binary file, not CSV text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"{path}: not UTF-8 text (byte {exc.start}); save the CSV as UTF-8") from None


def import_csv(store: SubscriberStore, path: Path, *, status: Status, consent: Consent) -> ImportReport:
    text = _read_text(path)
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
    return ImportReport(added, len(good) - added, duplicates, tuple(errors))


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
