"""A private Dovecot IMAP server for the tests: its own config, users and mail in a temporary folder,
127.0.0.1 on a free port, stopped (its whole process group) afterwards.

Needs Debian's ``dovecot-imapd`` (``apt-get install -y dovecot-imapd``); without it the test is skipped,
or fails where NEWSLETTER_REQUIRE_SERVICES is set, like every other service.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.services import port_open, unavailable

USER, PASSWORD = "bounces", "imap-test-password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Dovecot:
    def __init__(self) -> None:
        binary = shutil.which("dovecot")
        if binary is None:
            unavailable("dovecot is not installed (apt-get install -y dovecot-imapd)")
        assert binary is not None
        self.binary = binary
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="newsletter-imap-", dir="/tmp"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"imap://{USER}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def _configure(self) -> Path:
        account = pwd.getpwnam("dovecot")  # the package creates it; mail is stored as this user
        self.root.chmod(0o755)
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        os.chown(self.root / "mail", account.pw_uid, account.pw_gid)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        config = self.root / "dovecot.conf"
        config.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.root}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={account.pw_uid} gid={account.pw_gid} home={self.root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
""")
        return config

    def __enter__(self) -> Dovecot:
        config = self._configure()
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(config)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port, timeout=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "dovecot.log").read_text() if (self.root / "dovecot.log").exists() else ""
                self.__exit__()
                unavailable(f"dovecot did not start: {log[-500:]}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the master and the children it forked
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
