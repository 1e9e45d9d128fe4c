"""``newsletter doctor`` as an operator runs it: every check in words, exit 1 when anything is wrong."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.cli import run
from tests.support.services import port_open, unavailable
from tests.support.smtp_server import SmtpServer


def _project(tmp_path: Path, database_url: str, **values: str) -> Path:
    settings = {
        "database_url": database_url,
        "from_address": "News <news@news.example.net>",
        "postal_address": "PO Box 1",
        "base_url": "https://news.example.net",
        **values,
    }
    (tmp_path / "newsletter.toml").write_text(
        "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    )
    return tmp_path


def _dkim_key(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def test_a_ready_installation_has_no_problems(tmp_path: Path, database_url: str) -> None:
    if not (port_open("127.0.0.1", 5672) and port_open("127.0.0.1", 6379)):
        unavailable("RabbitMQ (5672) and Redis (6379) are needed on 127.0.0.1")
    with SmtpServer() as server:
        project = _project(
            tmp_path,
            database_url,
            transport="smtp",
            smtp_url=server.url,
            redis_url="redis://127.0.0.1:6379/0",
            dkim_key_path=str(_dkim_key(tmp_path)),
            dkim_selector="mail2026",
        )
        assert run(project, "init").returncode == 0
        result = run(project, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems found" in result.stdout
    for check in ("database", "broker", "redis", "transport", "dkim", "dns"):
        assert f"ok      {check}" in result.stdout, result.stdout
    assert 'TXT mail2026._domainkey.news.example.net "v=DKIM1; k=rsa; p=' in result.stdout


def test_everything_wrong_is_said_in_words(tmp_path: Path) -> None:
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    project = _project(
        tmp_path,
        f"sqlite:///{tmp_path / 'missing.db'}",
        postal_address="",
        transport="smtp",
        smtp_url="smtp://127.0.0.1:1",
        broker_url="amqp://guest:guest@127.0.0.1:1//",
        redis_url="redis://127.0.0.1:1/0",
        dkim_key_path=str(bad_key),
        dkim_selector="s1",
        list_id="not a domain",
    )
    result = run(project, "doctor")
    out = result.stdout
    assert result.returncode == 1 and "Traceback" not in out + result.stderr
    assert "no secret key configured" in out and "no postal_address" in out
    assert "no such database file; run `newsletter init`" in out
    assert not (tmp_path / "missing.db").exists()  # looking did not create it
    assert "cannot reach the broker amqp://guest:***@127.0.0.1:1//" in out
    assert "cannot reach redis://127.0.0.1:1/0" in out
    assert "cannot reach the SMTP server smtp://127.0.0.1:1" in out
    assert "the DKIM key is not an unencrypted PEM private key" in out
    assert "list_id: 'not a domain' is not a valid domain name" in out
    assert "8 problem(s) found" in out
    skipped = run(project, "doctor", "--skip", "broker", "--skip", "redis")
    assert "broker" not in skipped.stdout and "6 problem(s) found" in skipped.stdout
    assert "no check named nonsense" in run(project, "doctor", "--skip", "nonsense").stderr
