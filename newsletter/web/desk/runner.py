"""Sends started from the desk run in a process of their own, never inside a web request.

``SendRunner.start(key)`` spawns ``python -m newsletter.web.desk.runner KEY`` in a new session (its
own process group), with the web app's settings passed as ``NEWSLETTER_*`` variables, stdin closed,
and its output appended to ``desk_log_dir/KEY.log``. Closing the browser, or stopping or restarting
the web server, does not stop it. It sends the stored edition through the same ``send_edition`` as
``newsletter send`` (``send_workers`` included) and so writes the same ledger rows, which is where the
desk reads its progress from, whoever started the send.

The process holds an exclusive lock on ``desk_log_dir/KEY.lock`` while it runs. That lock is how the
desk knows a send of the edition is still going (a paused send finishing its messages in flight, say)
and refuses to start a second one beside it; the kernel drops it when the process ends, crashes
included, so a stale lock cannot block a resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from newsletter.config import FIELDS, Settings, load_settings
from newsletter.errors import NewsletterError, SendRefused

KEY = re.compile(r"^[0-9a-z][0-9a-z-]{0,119}$")
EXIT_BUSY = 75  # another desk send of the edition holds the lock
LOCK_WAIT_SECONDS = 2.0


def settings_environment(settings: Settings) -> dict[str, str]:
    """The settings as ``NEWSLETTER_*`` variables: the child loads exactly what the web app runs with."""
    env: dict[str, str] = {}
    for name in FIELDS:
        value = getattr(settings, name)
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        env["NEWSLETTER_" + name.upper()] = text
    return env


def _lock_path(settings: Settings, key: str) -> Path:
    if not KEY.match(key):
        raise SendRefused(f"{key!r} is not an edition key")
    return settings.desk_log_dir / f"{key}.lock"


@contextlib.contextmanager
def _locked(path: Path, *, exclusive: bool, wait: float = 0.0) -> Iterator[IO[str] | None]:
    """The lock held for the block (yields the file), or None when another process holds it.

    The desk only peeks (a shared lock, for microseconds); a send takes it exclusively and tries for
    ``wait`` seconds, so a peek at the moment a send starts never turns the send away.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a", encoding="utf-8")
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield None
                    return
                time.sleep(0.05)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


@dataclasses.dataclass
class SendRunner:
    settings: Settings
    _started: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)

    def running(self, key: str) -> bool:
        """True while a desk-started send of this edition is alive: it holds the edition's lock, or this
        web process spawned it and it is still starting (importing takes a moment before it locks)."""
        path = _lock_path(self.settings, key)
        child = self._started.get(key)
        if child is not None and child.poll() is None:
            return True
        if not path.exists():
            return False
        with _locked(path, exclusive=False) as held:
            return held is None

    def log_path(self, key: str) -> Path:
        return self.settings.desk_log_dir / f"{key}.log"

    def start(self, key: str) -> int:
        """Spawn the send; returns the process id. The caller has checked that none is running."""
        _lock_path(self.settings, key)  # refuses a malformed key before anything is spawned
        self.settings.desk_log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_environment(self.settings)}
        env.pop("NEWSLETTER_CONFIG", None)  # every value is in the variables already
        with self.log_path(key).open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module, a checked key)
                [sys.executable, "-m", "newsletter.web.desk.runner", key],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        self._started[key] = process
        # Reap it when it ends, so no zombie is left behind while the web server lives on.
        threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
        return process.pid


def run(settings: Settings, key: str) -> int:
    """The child's work: send the stored edition while holding its lock; the exit status says how it went."""
    from newsletter.database import open_database
    from newsletter.delivery.links import Links
    from newsletter.delivery.prepare import stored_edition
    from newsletter.dispatch.parallel import send_edition

    with _locked(_lock_path(settings, key), exclusive=True, wait=LOCK_WAIT_SECONDS) as held:
        if held is None:
            print(f"{key}: another desk send of this edition is running; this one does nothing", flush=True)
            return EXIT_BUSY
        database = open_database(settings)
        try:
            edition = database.ledger.find_edition(key)
            if edition is None:
                raise SendRefused(f"no edition {key!r}")
            edition_settings = settings.replace(transport=edition.transport or settings.transport)
            prepared = stored_edition(edition, edition_settings)
            print(f"{key}: sending with pid {os.getpid()}", flush=True)
            summary = send_edition(edition_settings, database, Links(edition_settings), prepared)
            print(json.dumps(summary.as_dict()), flush=True)
            return 3 if summary.stopped else 0
        finally:
            database.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m newsletter.web.desk.runner EDITION_KEY", file=sys.stderr)
        return 2
    try:
        return run(load_settings(), args[0])
    except NewsletterError as exc:
        print(f"error: {exc}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
