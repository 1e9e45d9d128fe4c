"""``newsletter serve`` starts the web app under uvicorn, and refuses clearly when it cannot."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from newsletter.database import open_database
from tests.conftest import TEST_SECRET, make_settings
from tests.support.polling import wait_for
from tests.support.web_helpers import csrf_of

NEWSLETTER = [sys.executable, "-c", "from newsletter.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "newsletter.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "newsletter.db"}"\n'
        f'secret_key = "{TEST_SECRET}"\n'
        f'outbox_dir = "{tmp_path / "outbox"}"\n' + extra,
        encoding="utf-8",
    )
    return config


@contextlib.contextmanager
def _serving(tmp_path: Path, config: Path) -> Iterator[str]:
    subprocess.run(
        [*NEWSLETTER, "--config", str(config), "init"],
        check=True,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [*NEWSLETTER, "--config", str(config), "serve", "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "newsletter serve did not answer within 30 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def _signup_ip(tmp_path: Path, base: str, address: str, forwarded: str) -> str | None:
    with httpx.Client(base_url=base, timeout=10) as client:
        token = csrf_of(client.get("/").text)
        response = client.post(
            "/subscribe",
            data={"email": address, "csrf": token, "website": ""},
            headers={"x-forwarded-for": forwarded},
        )
        assert response.status_code == 200, response.text
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'newsletter.db'}")
    database = open_database(settings)
    try:
        # applied just after the answer
        subscriber = wait_for(lambda: database.store.find(address), 10, "the signup to be applied")
        return database.store.events(subscriber.id)[0].ip
    finally:
        database.close()


def test_serve_does_not_let_a_local_client_choose_its_ip(tmp_path: Path) -> None:
    """uvicorn's own proxy headers would take X-Forwarded-For from 127.0.0.1 as it comes."""
    with _serving(tmp_path, _config(tmp_path)) as base:
        assert _signup_ip(tmp_path, base, "a@example.org", "nonsense-3") == "127.0.0.1"
        assert _signup_ip(tmp_path, base, "b@example.org", "198.51.100.7") == "127.0.0.1"


def test_serve_behind_a_trusted_proxy_takes_the_right_most_untrusted_address(tmp_path: Path) -> None:
    config = _config(tmp_path, 'trusted_proxies = "127.0.0.1 ::1"\n')
    with _serving(tmp_path, config) as base:
        assert _signup_ip(tmp_path, base, "c@example.org", "nonsense-3, 198.51.100.7") == "198.51.100.7"


def test_serve_starts_the_signup_form(tmp_path: Path) -> None:
    with _serving(tmp_path, _config(tmp_path)) as base:
        response = httpx.get(f"{base}/", timeout=2)
        assert response.status_code == 200 and "Subscribe" in response.text
        assert "server" not in response.headers  # no version banner


def test_serve_without_an_initialised_database_says_what_to_do(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = subprocess.run(
        [*NEWSLETTER, "--config", str(config), "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "newsletter init" in result.stderr and "Traceback" not in result.stderr


def test_serve_with_several_workers_shares_one_signup_limit(tmp_path: Path) -> None:
    """Three uvicorn processes, one limit: 5 posts per IP allowed, 12 posted, exactly 5 get through."""
    from tests.support.web_helpers import csrf_of

    config = _config(tmp_path)
    with config.open("a", encoding="utf-8") as handle:
        handle.write('signup_limit_per_ip = 5\npostal_address = "PO Box 1"\nbase_url = "http://127.0.0.1"\n')
    subprocess.run([*NEWSLETTER, "--config", str(config), "init"], check=True, cwd=tmp_path, timeout=60)
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [*NEWSLETTER, "--config", str(config), "serve", "--port", str(port), "--workers", "3"],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while (
            "Application startup complete" not in log.read_text()
            or log.read_text().count("Application startup complete") < 3
        ):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        statuses = []
        for index in range(12):  # a fresh connection each time: the kernel spreads them over the workers
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                token = csrf_of(client.get("/").text)
                form = {"email": f"r{index}@example.org", "csrf": token, "website": ""}
                statuses.append(client.post("/subscribe", data=form).status_code)
        assert statuses.count(200) == 5 and statuses.count(429) == 7, statuses
    finally:
        server.terminate()
        server.wait(20)
    pids = {
        line.split("[")[1].split("]")[0]
        for line in log.read_text().splitlines()
        if "Started server process" in line
    }
    assert len(pids) == 3
