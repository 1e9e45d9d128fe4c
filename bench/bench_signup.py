"""Signups per second and latency of the signup form on SQLite, with a local load generator.

The app runs under uvicorn in a child process (``newsletter serve`` would run the same), so the load
generator's threads do not share its GIL. Each generator thread has its own HTTP client and does what a
browser does: GET the form (for its CSRF token), then POST it with a new address. The figures are for
the POST: from sending it to the "check your inbox" page, which includes recording the signup attempt;
the pending subscriber, its consent event and the confirmation email are written after the response.

    python bench/bench_signup.py [--signups 2000] [--threads 8] [--transport outbox|discard]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SECRET = "bench-secret-key-0123456789abcdef"


def serve(database_url: str, port: int, outbox: str, transport: str) -> None:
    """Child process: migrate, then serve the app on 127.0.0.1:port."""
    import uvicorn

    from newsletter.config import Settings
    from newsletter.database import open_database
    from newsletter.web.app import create_app

    settings = Settings(
        database_url=database_url,
        secret_key=SECRET,
        outbox_dir=Path(outbox),
        transport=transport,
        base_url=f"http://127.0.0.1:{port}",
        signup_limit_per_ip=0,
        signup_limit_per_address=0,
    )
    open_database(settings, migrate=True).close()
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not come up")


def load(url: str, signups: int, threads: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(signups))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                match = CSRF.search(client.get("/").text)
                data = {
                    "email": f"bench{index}@example.org",
                    "name": f"Bench {index}",
                    "csrf": match.group(1) if match else "",
                    "website": "",
                }
                started = time.perf_counter()
                response = client.post("/subscribe", data=data)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors += response.status_code != 200

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--transport", default="outbox", choices=["outbox", "discard"])
    parser.add_argument(
        "--serve", nargs=4, metavar=("URL", "PORT", "OUTBOX", "TRANSPORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2], args.serve[3])
        return

    with tempfile.TemporaryDirectory(prefix="bench-signup-") as tmp:
        port = _free_port()
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                database_url,
                str(port),
                str(Path(tmp) / "outbox"),
                args.transport,
            ],
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_up(url + "/")
            load(url, min(100, args.signups), args.threads)  # warm-up: templates, connections, caches
            latencies, errors, seconds = load(url, args.signups, args.threads)
        finally:
            child.terminate()
            child.wait(10)
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        rate = len(latencies) / seconds
        print(
            f"signups: {len(latencies)} in {seconds:.2f} s with {args.threads} client threads "
            f"({args.transport} transport, SQLite, uvicorn 1 process, {os.cpu_count()} CPUs)"
        )
        print(f"errors: {errors}")
        print(f"throughput: {rate:.0f} signups/s (each a GET of the form and a POST)")
        print(f"POST latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
        print(f"| signup form, SQLite | {rate:.0f} signups/s | p99 {p99:.1f} ms |")


if __name__ == "__main__":
    main()
