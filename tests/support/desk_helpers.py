"""The desk for tests: settings with its folders under tmp_path, an editor, and a signed-in client."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from newsletter.config import Settings
from newsletter.database import Database
from newsletter.web.desk.editors import EditorStore
from subscribers.models import Status
from subscribers.store import Consent
from tests.support.web_helpers import build_app, csrf_of, make_client

PASSWORD = "correct horse battery staple"
TEST_MEMORY_KIB = 256  # the real Argon2id, cheap enough for tests on a shared machine
DESK_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{40})"')


def desk_settings(settings: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    return settings.replace(
        digests_dir=tmp_path / "digests",
        desk_log_dir=tmp_path / "logs",
        desk_password_memory_kib=TEST_MEMORY_KIB,
        **overrides,
    )


def add_editor(database: Database, name: str = "ann", password: str = PASSWORD) -> int:
    store = EditorStore(database.sessions, TEST_MEMORY_KIB)
    editor = store.add(name)
    store.set_password(editor.id, password)
    return editor.id


def add_readers(database: Database, count: int, status: Status = Status.confirmed) -> None:
    rows = [(f"reader{i}@example.org", f"Reader {i}") for i in range(1, count + 1)]
    database.store.add_many(rows, status=status, consent=Consent(source="test"))


def sign_in(client: Any, name: str = "ann", password: str = PASSWORD) -> Any:
    page = client.get("/desk/sign-in")
    return client.post(
        "/desk/sign-in",
        data={"name": name, "password": password, "csrf": csrf_of(page.text), "next": "/desk/"},
    )


def desk_csrf(client: Any, path: str = "/desk/") -> str:
    page = client.get(path)
    match = DESK_CSRF.search(page.text)
    assert match, f"no desk CSRF token on {path} ({page.status_code})"
    return match.group(1)


def signed_in_client(settings: Settings, database: Database, **client_options: Any) -> Any:
    add_editor(database)
    client = make_client(build_app(settings, database), **client_options)
    assert sign_in(client).status_code == 303
    return client
