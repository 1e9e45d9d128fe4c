"""CSV import and export: bad rows are named by line, good rows land, whole-file problems write nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from newsletter.database import Database
from subscribers import Consent, Status
from subscribers.importer import ImportRefused, export_csv, import_csv

CONSENT = Consent(source="import:test.csv")


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "list.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_bad_rows_are_reported_by_line_and_good_rows_are_written(database: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Email,Name\nann@example.org,Ann\nnot-an-address,Bob\n\nann@EXAMPLE.org,Dup\n"
        'cat@example.org,"Cat, the"\n,empty\n',
    )
    report = import_csv(database.store, path, status=Status.confirmed, consent=CONSENT)
    assert report.added == 2
    assert report.duplicates_in_file == 1
    assert [(e.line, e.value) for e in report.errors] == [(3, "not-an-address"), (7, "")]
    assert "@-sign" in report.errors[0].reason
    assert database.store.find("cat@example.org").name == "Cat, the"  # type: ignore[union-attr]


def test_a_second_import_skips_addresses_already_listed(database: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "email\na@example.org\nb@example.org\n")
    import_csv(database.store, path, status=Status.confirmed, consent=CONSENT)
    report = import_csv(database.store, path, status=Status.confirmed, consent=CONSENT)
    assert (report.added, report.already_listed) == (0, 2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"name,city\nAnn,Paris\n", "no 'email' column"),
        (b"ann@example.org\nbob@example.org\n", "header row"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "a PNG image, not CSV text; export it as CSV"),
    ],
)
def test_files_that_are_not_a_list_are_refused_whole(
    database: Database, tmp_path: Path, content: bytes, message: str
) -> None:
    with pytest.raises(ImportRefused, match=message):
        import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    assert sum(database.store.count_by_status().values()) == 0


def test_sql_in_a_row_is_just_a_bad_address(database: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'email,name\n"x\'); DROP TABLE subscribers; --@example.org",Robert\n'
        'ok@example.org,"\'; DELETE FROM subscribers; --"\n',
    )
    report = import_csv(database.store, path, status=Status.confirmed, consent=CONSENT)
    assert report.added + len(report.errors) == 2
    assert database.store.find("ok@example.org").name == "'; DELETE FROM subscribers; --"  # type: ignore[union-attr]


def test_export_round_trips_and_neutralises_spreadsheet_formulas(database: Database, tmp_path: Path) -> None:
    database.store.add("sheet@example.org", '=HYPERLINK("http://evil")', consent=CONSENT)
    database.store.add("plain@example.org", "Plain", status=Status.pending, consent=CONSENT)
    out = io.StringIO()
    assert export_csv(database.store, out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["email", "name", "status", "created_at", "confirmed_at"]
    assert rows[1][:3] == ["sheet@example.org", '\'=HYPERLINK("http://evil")', "confirmed"]
    assert rows[2][:3] == ["plain@example.org", "Plain", "pending"]
