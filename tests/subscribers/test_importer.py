"""CSV import and export: bad rows are named by line, good rows land, whole-file problems write nothing."""

from __future__ import annotations

import csv
import io
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from newsletter.database import Database
from subscribers import Consent, Status
from subscribers.importer import ImportRefused, ImportReport, export_csv, import_csv
from subscribers.models import Subscriber

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


def _list_of(count: int, bad: dict[int, bytes] | None = None) -> bytes:
    """A CSV of ``count`` rows; row n (1-based, after the header) replaced by ``bad[n]`` where given."""
    rows = [b"email,name"]
    for n in range(1, count + 1):
        rows.append((bad or {}).get(n, f"reader{n}@example.org,Reader {n}".encode()))
    return b"\n".join(rows) + b"\n"


def test_nul_bytes_in_two_of_165_rows_fail_exactly_those_rows(database: Database, tmp_path: Path) -> None:
    """The issue's file: refused whole as 'a binary file' before."""
    content = _list_of(
        165, {40: b"reader40@exam\x00ple.org,Reader 40", 120: b"reader120@example.org,Re\x00der"}
    )
    report = import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    assert report.added == 163
    assert [(e.line, e.reason) for e in report.errors] == [
        (41, "not imported: it holds a control character (NUL)"),
        (121, "not imported: it holds a control character (NUL)"),
    ]
    assert report.errors[0].value == "reader40@exam\\x00ple.org"
    assert database.store.find("reader39@example.org") is not None
    assert database.store.find("reader120@example.org") is None


def test_bytes_that_are_not_utf8_in_a_utf8_file_fail_only_their_rows(
    database: Database, tmp_path: Path
) -> None:
    content = _list_of(
        20, {3: "zoë@example.org,Zoë".encode(), 7: b"bad\xff@example.org,x", 9: b"ok9@example.org,Jos\xe9"}
    )
    report = import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    assert report.encoding == "utf-8" and not report.encoding_guessed
    assert [(e.line, e.reason) for e in report.errors] == [
        (8, "not imported: byte 0xFF is not UTF-8 text"),
        (10, "not imported: byte 0xE9 is not UTF-8 text"),
    ]
    assert report.errors[0].value == "bad\\xff@example.org"
    assert report.added == 18 and database.store.find("zoë@example.org") is not None


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-16", b""),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("utf-16-le", b""),
        ("utf-8", b"\xef\xbb\xbf"),
    ],
)
def test_utf16_and_marked_files_are_read(database: Database, tmp_path: Path, codec: str, bom: bytes) -> None:
    text = "email,name\nzoe@example.org,Zoë Müller\nbob@example.org,Bob\n"
    content = bom + text.encode(codec)
    report = import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    assert (report.added, report.errors) == (2, ())
    assert database.store.find("zoe@example.org").name == "Zoë Müller"  # type: ignore[union-attr]


def test_a_latin1_file_is_detected_and_said_so(database: Database, tmp_path: Path) -> None:
    content = (
        "email,name\nann@example.org,François Lefèvre\nbob@example.org,José Müller\ncafé@example.org,C\n"
    )
    report = import_csv(
        database.store, write(tmp_path, content.encode("latin-1")), status=Status.confirmed, consent=CONSENT
    )
    assert report.encoding == "cp1252" and report.encoding_guessed
    assert database.store.find("ann@example.org").name == "François Lefèvre"  # type: ignore[union-attr]
    assert report.added == 2
    # A guessed encoding never makes a non-ASCII address: that row is named instead.
    assert [e.line for e in report.errors] == [4] and "was guessed" in report.errors[0].reason
    again = import_csv(
        database.store,
        write(tmp_path, content.encode("latin-1")),
        status=Status.confirmed,
        consent=CONSENT,
        encoding="latin-1",
    )
    assert (again.added, again.errors, again.encoding) == (1, (), "iso8859-1")


def test_an_encoding_that_can_only_be_guessed_is_refused_with_its_name(
    database: Database, tmp_path: Path
) -> None:
    content = "email,name\nann@example.org,山田太郎\nbob@example.org,鈴木一郎\n".encode("shift_jis")
    with pytest.raises(ImportRefused, match=r"it looks like cp932 .*\(--encoding cp932\)"):
        import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    with pytest.raises(ImportRefused, match="not an encoding Python knows"):
        import_csv(
            database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT, encoding="x"
        )
    report = import_csv(
        database.store,
        write(tmp_path, content),
        status=Status.confirmed,
        consent=CONSENT,
        encoding="shift_jis",
    )
    assert report.added == 2 and database.store.find("ann@example.org").name == "山田太郎"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "an Excel or LibreOffice workbook, or a ZIP archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "an old Excel workbook (.xls)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image"),
        (b"\x1f\x8b\x08\x00" + bytes(50), "a gzip archive"),
        (bytes(range(256)) * 8, "a binary file"),
    ],
)
def test_a_truly_binary_upload_is_refused_whole_with_a_hint(
    database: Database, tmp_path: Path, content: bytes, kind: str
) -> None:
    with pytest.raises(ImportRefused, match="export it as CSV") as refused:
        import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    assert f"this is {kind}, not CSV text" in str(refused.value)
    assert sum(database.store.count_by_status().values()) == 0


def test_an_erased_address_is_not_imported_again(database: Database, tmp_path: Path) -> None:
    database.store.erase("gone@example.org", Consent(source="request"))
    path = write(
        tmp_path, "email,name\nGone@Example.org,Gone\nkept@example.org,Kept\ngone@example.org,Again\n"
    )
    report = import_csv(database.store, path, status=Status.confirmed, consent=CONSENT)
    assert (report.added, report.already_listed, report.duplicates_in_file) == (1, 1, 1)
    assert database.store.find("gone@example.org") is None
    assert database.store.is_suppressed("gone@example.org")


def test_a_large_file_counts_duplicates_across_chunks_and_keeps_each_first_row(
    database: Database, tmp_path: Path
) -> None:
    """12,000 rows (three of the importer's chunks), each address twice, the copy far from the first."""
    database.store.add("reader5@example.org", "Listed", consent=CONSENT)
    rows = [f"reader{n}@example.org,First {n}" for n in range(6000)]
    rows += [f"READER{n}@example.org,Second {n}" for n in range(6000)]
    path = write(tmp_path, "email,name\n" + "\n".join(rows) + "\n")
    report = import_csv(database.store, path, status=Status.confirmed, consent=CONSENT)
    assert (report.added, report.already_listed, report.duplicates_in_file) == (5999, 1, 6000)
    assert database.store.find("reader5999@example.org").name == "First 5999"  # type: ignore[union-attr]
    assert database.store.find("reader5@example.org").name == "Listed"  # type: ignore[union-attr]
    imported = database.store.find("reader42@example.org")
    assert imported is not None and [e.kind for e in database.store.events(imported.id)] == ["imported"]
    assert database.store.events(imported.id)[0].source == "import:test.csv"


LARGE = 40_000  # rows: past the first megabyte, the block the encoding is first looked for in


def test_a_stray_byte_near_the_end_of_a_large_utf8_file_fails_only_its_row(
    database: Database, tmp_path: Path
) -> None:
    content = _list_of(LARGE, {2: "zoë@example.org,Zoë".encode(), LARGE - 1: b"late\xff@example.org,Late"})
    assert len(content) > 1_100_000
    report = import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    assert (report.encoding, report.encoding_guessed) == ("utf-8", False)
    assert [(e.line, e.reason) for e in report.errors] == [
        (LARGE, "not imported: byte 0xFF is not UTF-8 text")
    ]
    assert report.added == LARGE - 1


def test_the_encoding_of_a_file_whose_only_accents_are_near_its_end_is_still_found(
    database: Database, tmp_path: Path
) -> None:
    late = ["François Lefèvre", "José Müller", "Renée Dubois"]
    content = _list_of(
        LARGE, {LARGE - 3 + i: f"late{i}@example.org,{name}".encode("cp1252") for i, name in enumerate(late)}
    )
    report = import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    assert (report.encoding, report.encoding_guessed) == ("cp1252", True)
    assert (report.added, report.errors) == (LARGE, ())
    assert database.store.find("late1@example.org").name == "José Müller"  # type: ignore[union-attr]


def test_a_file_broken_after_thousands_of_good_rows_writes_nothing(
    database: Database, tmp_path: Path
) -> None:
    """The rows before the break were already handed to the database: they are rolled back with the rest."""
    content = _list_of(12_000) + b'"' + b"x" * 200_000 + b'"@example.org,Too long a cell\n'
    with pytest.raises(
        ImportRefused, match=r"line 12002: field larger than field limit.*nothing was imported"
    ):
        import_csv(database.store, write(tmp_path, content), status=Status.confirmed, consent=CONSENT)
    assert sum(database.store.count_by_status().values()) == 0
    assert database.store.find("reader1@example.org") is None


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_signup_committed_while_the_import_adds_its_rows_is_counted_as_listed(
    database: Database, tmp_path: Path
) -> None:
    """PostgreSQL only: there a signup can commit while the import's INSERT runs (SQLite's import holds
    the write lock for it). The import meets the rival row in the unique index and is run again."""
    path = write(tmp_path, "email,name\nrace@example.org,Imported\nother@example.org,Other\n")
    outcome: dict[str, object] = {}

    def run() -> None:
        outcome["report"] = import_csv(database.store, path, status=Status.confirmed, consent=CONSENT)

    with database.engine.connect() as rival:
        rival.execute(
            insert(Subscriber).values(email="race@example.org", name="Rival", status="pending", source="form")
        )
        importer = threading.Thread(target=run)
        importer.start()
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE '%import_rows%'"
        )
        while importer.is_alive():  # until the import's INSERT waits on the rival's uncommitted row
            with database.engine.connect() as watcher:
                if watcher.execute(waiting).scalar_one():
                    break
            time.sleep(0.01)
        rival.commit()
    importer.join()
    report = outcome["report"]
    assert isinstance(report, ImportReport)
    assert (report.added, report.already_listed, report.duplicates_in_file) == (1, 1, 0)
    assert database.store.find("race@example.org").name == "Rival"  # type: ignore[union-attr]
    assert database.store.find("other@example.org") is not None
