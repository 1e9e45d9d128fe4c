"""Real parts for the web tests: the app in-process (TestClient), or served by uvicorn on 127.0.0.1.

Starlette's TestClient warns at import when it runs on ``httpx`` rather than ``httpx2``; pytest turns
warnings into errors, so it is imported here with that one warning silenced.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from newsletter.config import Settings

if TYPE_CHECKING:
    from starlette.testclient import TestClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CONFIRM_URL = re.compile(r"https?://\S+/confirm/[A-Za-z0-9._-]+")


def make_client(app: Any, *, raise_server_exceptions: bool = True) -> TestClient:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
        from starlette.testclient import TestClient

    return TestClient(
        app,
        base_url="https://news.example.org",
        follow_redirects=False,
        raise_server_exceptions=raise_server_exceptions,
    )


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def without_csrf(html: str) -> str:
    return CSRF.sub('name="csrf" value=""', html)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def outbox(settings: Settings) -> list[Path]:
    folder = settings.outbox_dir
    if not folder.exists():
        return []
    return sorted(folder.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def confirm_url(message: EmailMessage) -> str:
    match = CONFIRM_URL.search(text_part(message))
    assert match, "no confirm link in the message"
    return match.group(0)


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 and a port the OS picks, in a daemon thread.

    The socket is bound first, so ``url`` is known before the app is built (its base_url needs it).
    """

    def __init__(self, app: Any = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit this; without it Nagle + delayed ACK add ~40 ms to every response.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.app = app
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, app: Any = None) -> None:
        # A long keep-alive: load tests hold connections idle while every thread gets ready.
        config = uvicorn.Config(
            app or self.app,
            log_level="warning",
            lifespan="on",
            access_log=False,
            backlog=2048,
            timeout_keep_alive=120,
            proxy_headers=False,  # as `newsletter serve` runs it: the app reads X-Forwarded-For itself
        )
        self.server = server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread = thread
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(10)
        self.sock.close()


@contextlib.contextmanager
def serving(app: Any) -> Iterator[ServerThread]:
    server = ServerThread(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def build_app(settings: Settings, database: Any, **overrides: Any) -> Any:
    """The app over the test database, with settings overridden (rate limits, welcome email …)."""
    from newsletter.web.app import create_app

    return create_app(settings.replace(**overrides) if overrides else settings, database)


def signup(
    client: TestClient,
    address: str,
    name: str = "",
    *,
    path: str = "/",
    action: str = "/subscribe",
    **extra: str,
) -> Any:
    """Open the form at ``path`` and send it, as a browser would (fresh CSRF token each time)."""
    page = client.get(path)
    assert page.status_code == 200
    data = {"email": address, "name": name, "csrf": csrf_of(page.text), "website": "", **extra}
    return client.post(action, data=data)
