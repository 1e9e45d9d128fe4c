"""Can the time of a signup answer tell a new address from one already confirmed?

The app runs under uvicorn in a child process on SQLite (the discard transport, so mail costs no
disk). One client posts the form for N new and N confirmed addresses in a shuffled order (fixed
seed), timing each POST; the GET for the CSRF token is not timed. Printed: the median per kind,
P(new slower than confirmed) from the Mann-Whitney U statistic (0.5: nothing to tell), its p-value,
and how often one request alone tells the kind with the best threshold (the issue measured 89%).

    python bench/bench_signup_timing.py [--per-state 300] [--seed 13]

To measure another checkout (e.g. main before the fix), put it first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "bench-secret-key-0123456789abcdef"

from tests.support.timing import best_guess_accuracy, mann_whitney, timed_posts  # noqa: E402
from tests.support.web_helpers import csrf_of  # noqa: E402


def _settings(database_url: str, port: int) -> object:
    from newsletter.config import Settings

    return Settings(
        database_url=database_url,
        secret_key=SECRET,
        transport="discard",
        base_url=f"http://127.0.0.1:{port}",
        signup_limit_per_ip=1_000_000,
        signup_limit_per_address=1_000_000,
    )


def serve(database_url: str, port: int) -> None:
    import socket

    import uvicorn

    from newsletter.web.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it Nagle + delayed ACK add ~40 ms of noise to each answer.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    app = create_app(_settings(database_url, port))  # type: ignore[arg-type]
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TimeToAnswer:
    """ASGI wrapper timing each request from its arrival to the last byte of its answer (in-process),
    and counting the SQL statements run before that last byte."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0
        self.statements = 0
        self._answered = True

    def count(self, *_: Any) -> None:
        if not self._answered:
            self.statements += 1

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        self.statements, self._answered = 0, False

        async def timed(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.last = time.perf_counter() - started
                self._answered = True

        await self.app(scope, receive, timed)


def in_process(url: str, order: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    """The server's own time to answer each post (no sockets, no second process, less noise), and
    the statements each post ran before its answer."""
    from sqlalchemy import event

    from newsletter.web.app import create_app
    from tests.support.web_helpers import make_client

    app = create_app(_settings(url, 8000))  # type: ignore[arg-type]
    timer = TimeToAnswer(app)
    event.listen(app.state.database.engine, "before_cursor_execute", timer.count)
    times, statements = {}, {}
    with make_client(timer) as client:
        for address in [f"warm-in{i}@example.org" for i in range(30)] + order:
            token = csrf_of(client.get("/").text)
            client.post("/subscribe", data={"email": address, "name": "", "csrf": token, "website": ""})
            times[address], statements[address] = timer.last, timer.statements
    return times, statements


def report(title: str, times: dict[str, float], fresh: list[str], known: list[str]) -> None:
    new_times = [times[a] * 1000 for a in fresh]
    known_times = [times[a] * 1000 for a in known]
    slower, p_value = mann_whitney(new_times, known_times)
    print(title)
    new_median, known_median = statistics.median(new_times), statistics.median(known_times)
    print(f"  median: new {new_median:.2f} ms, confirmed {known_median:.2f} ms")
    print(f"  P(new slower than confirmed) = {slower:.3f} (Mann-Whitney, 0.5: none), p = {p_value:.2g}")
    accuracy = best_guess_accuracy(new_times, known_times)
    print(f"  one request tells them apart {accuracy:.0%} of the time (50%: a coin)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-state", type=int, default=300)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return

    from newsletter.database import open_database
    from subscribers.models import Status
    from subscribers.store import Consent

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'timing.db'}"
        port = _free_port()
        database = open_database(_settings(url, port), migrate=True)  # type: ignore[arg-type]
        known = [f"known{i}@example.org" for i in range(args.per_state)]
        fresh = [f"fresh{i}@example.org" for i in range(args.per_state)]
        database.store.add_many(
            [(a, "") for a in known], status=Status.confirmed, consent=Consent(source="b")
        )
        database.close()
        server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)])
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(base + "/", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the app did not start") from None
                    time.sleep(0.1)
            timed_posts(base, [f"warm{i}@example.org" for i in range(30)])
            order = known + fresh
            random.Random(args.seed).shuffle(order)
            times = dict(zip(order, timed_posts(base, order), strict=True))
        finally:
            server.terminate()
            server.wait(10)
    label = f"{args.per_state} new and {args.per_state} confirmed addresses, interleaved (seed {args.seed})"
    report(f"signup POST over HTTP (uvicorn child process), {label}", times, fresh, known)

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'timing.db'}"
        database = open_database(_settings(url, 8000), migrate=True)  # type: ignore[arg-type]
        database.store.add_many(
            [(a, "") for a in known], status=Status.confirmed, consent=Consent(source="b")
        )
        database.close()
        order = known + fresh
        random.Random(args.seed).shuffle(order)
        in_proc, statements = in_process(url, order)
    report(f"signup POST, the server's own time to answer (in-process), {label}", in_proc, fresh, known)
    print(
        "  SQL statements before the answer: new "
        f"{sorted({statements[a] for a in fresh})}, confirmed {sorted({statements[a] for a in known})}"
    )


if __name__ == "__main__":
    main()
