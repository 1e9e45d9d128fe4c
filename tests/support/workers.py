"""Real ``newsletter worker`` processes for the distributed-send tests and benchmarks.

Each worker is the installed command in its own process, with its own log file, started from a
settings file; the queue name and Redis key prefix are unique per run, so parallel test runs (and other
people's workers on the same broker) never take each other's batches.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

NEWSLETTER = [sys.executable, "-c", "from newsletter.cli import main; main()"]


def unique_names() -> dict[str, str]:
    run = uuid.uuid4().hex[:10]
    return {"worker_queue": f"test-{run}", "redis_prefix": f"test:{run}:"}


def write_config(path: Path, values: dict[str, object]) -> Path:
    path.write_text(
        "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items()), encoding="utf-8"
    )
    return path


@dataclasses.dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def ready(self) -> bool:
        return " ready." in self.text()

    def signal(self, number: int) -> None:
        os.kill(self.process.pid, number)


def start_workers(config: Path, count: int, folder: Path, *extra: str) -> list[Worker]:
    workers = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    for index in range(count):
        log = folder / f"worker-{index}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*NEWSLETTER, "--config", str(config), "worker", "--loglevel", "info", *extra],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env=env,
            )
        workers.append(Worker(process, log))
    deadline = time.monotonic() + 120
    while not all(w.ready() for w in workers):
        for worker in workers:
            assert worker.process.poll() is None, worker.text()
        assert time.monotonic() < deadline, "workers did not start: " + workers[0].text()
        time.sleep(0.2)
    return workers


def stop_workers(workers: list[Worker]) -> None:
    """TERM (a warm shutdown), then KILL whatever is still there after 30 s."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.process.wait(30)
        except subprocess.TimeoutExpired:
            worker.signal(signal.SIGKILL)
            worker.process.wait(10)


def run_command(config: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    return subprocess.run(
        [*NEWSLETTER, "--config", str(config), *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
