"""Subscribers on the desk: search, a person's history, unsubscribe, resubscribe with a reason, export,
erase, and CSV in and out with the per-row report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from newsletter.config import Settings
from newsletter.database import Database
from subscribers.models import Status
from subscribers.store import Consent
from tests.support.desk_helpers import add_readers, desk_csrf, desk_settings, signed_in_client
from tests.support.web_helpers import outbox


def people(page: str) -> int:
    return len(re.findall(r'href="/desk/subscribers/\d+"', page))


@pytest.fixture
def desk_config(settings: Settings, tmp_path: Path) -> Settings:
    return desk_settings(settings, tmp_path)


def test_search_by_address_or_name_pages_through_results(desk_config: Settings, database: Database) -> None:
    add_readers(database, 120)
    database.store.add("zoë@example.net", "Zoë O'Brien", status=Status.confirmed, consent=Consent(source="t"))
    client = signed_in_client(desk_config, database)
    found = client.get("/desk/subscribers", params={"q": "reader11"})
    assert people(found.text) == 11  # reader11, reader110 … reader119
    assert client.get("/desk/subscribers", params={"q": "o'brien"}).text.count("zoë@example.net") == 1
    assert (
        "Nobody matches" in client.get("/desk/subscribers", params={"q": "%"}).text
    )  # LIKE wildcards are text
    first = client.get("/desk/subscribers", params={"q": "reader"})
    assert people(first.text) == 50 and "Next page" in first.text
    injected = client.get("/desk/subscribers", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in injected.text and "&lt;script&gt;" in injected.text


def test_a_person_page_shows_history_and_editor_actions_are_evidence(
    desk_config: Settings, database: Database
) -> None:
    add_readers(database, 1)
    client = signed_in_client(desk_config, database)
    csrf = desk_csrf(client)
    page = client.get("/desk/subscribers/1")
    assert "reader1@example.org" in page.text and "imported" in page.text
    assert client.get("/desk/subscribers/999").status_code == 404

    left = client.post("/desk/subscribers/1/unsubscribe", data={"csrf": csrf})
    assert left.status_code == 200 and "Unsubscribed." in left.text
    assert database.store.get(1).status is Status.unsubscribed
    assert database.store.events(1)[-1].source == "desk:ann"

    no_reason = client.post("/desk/subscribers/1/resubscribe", data={"csrf": csrf, "reason": " "})
    assert no_reason.status_code == 422 and database.store.get(1).status is Status.unsubscribed
    back = client.post(
        "/desk/subscribers/1/resubscribe", data={"csrf": csrf, "reason": "Phoned us on 2 Dec to come back"}
    )
    assert back.status_code == 200 and "confirmation email" in back.text
    assert database.store.get(1).status is Status.pending  # mailed again only once they confirm
    event = database.store.events(1)[-1]
    assert event.kind == "signup" and "Phoned us on 2 Dec" in event.detail and event.source == "desk:ann"
    [confirmation] = outbox(desk_config)
    assert b"Confirm your subscription" in confirmation.read_bytes()


def test_export_and_erase_one_person(desk_config: Settings, database: Database) -> None:
    add_readers(database, 2)
    client = signed_in_client(desk_config, database)
    csrf = desk_csrf(client)
    exported = client.get("/desk/subscribers/2/export")
    assert exported.headers["content-disposition"] == 'attachment; filename="subscriber-2.json"'
    assert json.loads(exported.text)["email"] == "reader2@example.org"
    wrong = client.post("/desk/subscribers/2/erase", data={"csrf": csrf, "confirm": "reader1@example.org"})
    assert wrong.status_code == 422 and database.store.find("reader2@example.org") is not None
    done = client.post("/desk/subscribers/2/erase", data={"csrf": csrf, "confirm": "Reader2@example.org "})
    assert done.status_code == 303
    assert database.store.find("reader2@example.org") is None and database.store.is_suppressed(
        "reader2@example.org"
    )
    assert "erased" in client.get("/desk/subscribers/2").text


def test_csv_import_reports_each_bad_row_and_export_round_trips(
    desk_config: Settings, database: Database
) -> None:
    client = signed_in_client(desk_config, database)
    csrf = desk_csrf(client)
    rows = "email,name\nann@example.org,Ann\nnot-an-address,Bad\nbob@example.org,Bob\nann@example.org,Again\n"
    response = client.post(
        "/desk/subscribers/import",
        files={"file": ("list.csv", rows.encode())},
        data={"csrf": csrf, "confirmed": "1"},
    )
    assert response.status_code == 200
    assert "Added 2, already listed 0, duplicates in the file 1, rows with errors 1." in response.text
    assert "<td>3</td><td>not-an-address</td>" in response.text
    assert database.store.find("bob@example.org").status is Status.confirmed  # type: ignore[union-attr]
    refused = client.post(
        "/desk/subscribers/import", files={"file": ("x.csv", b"\x00\x01")}, data={"csrf": csrf}
    )
    assert refused.status_code == 422 and "binary" in refused.text and "desk-import-" not in refused.text
    exported = client.get("/desk/subscribers/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0] == "email,name,status,created_at,confirmed_at"
    assert {line.split(",")[0] for line in exported.text.splitlines()[1:]} == {
        "ann@example.org",
        "bob@example.org",
    }


def test_a_large_csv_in_a_windows_encoding_imports_through_the_desk(
    desk_config: Settings, database: Database
) -> None:
    """Bigger than any signup form and not UTF-8: the desk's upload is read by the importer, which
    finds the encoding, not refused by the signup pages' form check."""
    client = signed_in_client(desk_config, database)
    rows = "email,name\n" + "".join(f"person{i}@example.org,Zoë Müller {i}\n" for i in range(3000))
    body = rows.encode("cp1252")
    assert len(body) > 64 * 1024
    csrf = desk_csrf(client)
    unsure = client.post("/desk/subscribers/import", files={"file": ("list.csv", body)}, data={"csrf": csrf})
    assert unsure.status_code == 422 and "not UTF-8" in unsure.text  # the importer will not guess
    assert database.store.count_by_status()["pending"] == 0
    response = client.post(
        "/desk/subscribers/import",
        files={"file": ("list.csv", body)},
        data={"csrf": csrf, "encoding": "cp1252"},
    )
    assert response.status_code == 200 and "Added 3000" in response.text
    assert database.store.find("person7@example.org").name == "Zoë Müller 7"  # type: ignore[union-attr]
