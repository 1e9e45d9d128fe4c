"""Signups at once against a real uvicorn server on 127.0.0.1 over SQLite: no error and no lost row."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from newsletter.config import Settings
from newsletter.database import Database, open_database
from subscribers.models import ConsentEvent, ConsentKind, Subscriber
from tests.conftest import make_settings
from tests.support.web_helpers import build_app, csrf_of, outbox, serving


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'newsletter.db'}")
    database = open_database(settings, migrate=True)
    yield settings, database
    database.close()


def _storm(base_url: str, addresses: list[str]) -> list[int | str]:
    """Each address from its own thread and client; all posts released together by a barrier."""
    results: list[int | str] = [0] * len(addresses)
    barrier = threading.Barrier(len(addresses))

    def one(index: int) -> None:
        try:
            with httpx.Client(base_url=base_url, timeout=180) as client:
                token = csrf_of(client.get("/").text)
                barrier.wait(timeout=180)
                form = {"email": addresses[index], "name": f"Reader {index}", "csrf": token, "website": ""}
                response = client.post("/subscribe", data=form)
                results[index] = response.status_code
        except Exception as exc:  # reported below, with the others
            results[index] = repr(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(addresses))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return results


def _wait_for_outbox(settings: Settings, count: int, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while len(outbox(settings)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(outbox(settings))


def test_200_simultaneous_signups_on_sqlite(sqlite: tuple[Settings, Database]) -> None:
    settings, database = sqlite
    app = build_app(settings, database, signup_limit_per_ip=100_000)
    addresses = [f"reader{i}@example.org" for i in range(200)]
    with serving(app) as server:
        results = _storm(server.url, addresses)
        assert results == [200] * 200, [r for r in results if r != 200][:5]
        assert _wait_for_outbox(settings, 200) == 200
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 200
        assert set(session.scalars(select(Subscriber.email))) == set(addresses)
        signups = select(func.count()).where(ConsentEvent.kind == ConsentKind.signup)
        assert session.scalar(signups) == 200


def test_one_address_many_times_at_once_makes_one_row(sqlite: tuple[Settings, Database]) -> None:
    settings, database = sqlite
    app = build_app(settings, database, signup_limit_per_ip=100_000, signup_limit_per_address=3)
    with serving(app) as server:
        results = _storm(server.url, ["same@example.org"] * 60)
        assert results == [200] * 60
        time.sleep(0.5)
        assert _wait_for_outbox(settings, 3, seconds=5) == 3  # the per-address limit holds under load
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1
