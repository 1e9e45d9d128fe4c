"""A local stand-in for SendGrid's v3 ``POST /v3/mail/send``, strict like the documented API.

It checks what the real endpoint checks and answers the same way: 202 with an empty body and an
``X-Message-Id``; 400 with ``{"errors": [{"message", "field", "help"}]}`` (malformed JSON, more than 1,000
personalizations, a personalization without ``to``, an invalid address, non-string substitutions,
custom_args or headers, reserved headers, a missing subject or from, content in the wrong order);
401 for a wrong key; 413 for a body over ``max_body`` (30 MB by default, as documented); 415 unless the
Content-Type is exactly ``application/json`` (the API refuses even ``application/json; charset=utf-8``:
sendgrid/sendgrid-csharp#910, #929).

Faults are scripted: ``plan(429, 429, 503)`` makes the next three requests answer those codes (429 with
``X-RateLimit-Reset``), whatever their body. ``record=False`` keeps only counters, for benchmarks.

Run on its own (benchmarks): ``python -m tests.support.sendgrid_server [--port 0]`` prints the port.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_PERSONALIZATIONS = 1000
MAX_BODY = 30 * 1024 * 1024
MAX_ARGS_BYTES = 10_000
RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}


@dataclasses.dataclass
class Received:
    message_id: str
    body: dict[str, Any]
    headers: dict[str, str] = dataclasses.field(default_factory=dict)  # of the request, names lower case


def _error(message: str, field: str | None = None) -> dict[str, Any]:
    return {"message": message, "field": field, "help": None}


ADDRESS = re.compile(r"[^@\s]+@[^@\s.][^@\s]*\.[^@\s]+")


def _valid_address(value: Any) -> bool:
    return isinstance(value, str) and ADDRESS.fullmatch(value) is not None


def _strings(mapping: Any) -> bool:
    return isinstance(mapping, dict) and all(type(k) is str and type(v) is str for k, v in mapping.items())


def _size(mapping: dict[str, str]) -> int:
    return sum(len(k) + len(v) for k, v in mapping.items())  # characters: close enough to bytes here


def validate(body: Any) -> list[dict[str, Any]]:
    """The documented constraints of mail/send, as error objects (empty: valid)."""
    if not isinstance(body, dict):
        return [_error("Bad Request", None)]
    errors: list[dict[str, Any]] = []
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(
            _error(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        )
        personalizations = []
    elif len(personalizations) > MAX_PERSONALIZATIONS:
        errors.append(
            _error(
                "The personalizations field cannot have more than 1000 personalizations.", "personalizations"
            )
        )
    sender = body.get("from")
    if not isinstance(sender, dict) or not _valid_address(sender.get("email")):
        errors.append(_error("The from email does not contain a valid address.", "from.email"))
    content = body.get("content")
    if (
        not isinstance(content, list)
        or not content
        or not all(
            isinstance(c, dict)
            and isinstance(c.get("type"), str)
            and isinstance(c.get("value"), str)
            and c["value"]
            for c in content
        )
    ):
        errors.append(
            _error("Unless a valid template_id is provided, the content parameter is required.", "content")
        )
    elif [c["type"] for c in content if c["type"] in ("text/plain", "text/html")] == [
        "text/html",
        "text/plain",
    ]:
        errors.append(
            _error(
                "If present, text/plain and text/html may only be provided in the order text/plain, "
                "text/html.",
                "content",
            )
        )
    if not _strings(body.get("headers", {})):
        errors.append(_error("Invalid type. Expected: object, given: other.", "headers"))
    for i, p in enumerate(personalizations):
        if not isinstance(p, dict):
            errors.append(_error("Invalid type.", f"personalizations.{i}"))
            continue
        to = p.get("to")
        if not isinstance(to, list) or not to:
            errors.append(
                _error(
                    "The to array is required for all personalization objects, and must have at least "
                    "one email object with a valid email address.",
                    f"personalizations.{i}.to",
                )
            )
        else:
            for j, recipient in enumerate(to):
                if not isinstance(recipient, dict) or not _valid_address(recipient.get("email")):
                    errors.append(
                        _error("Does not contain a valid address.", f"personalizations.{i}.to.{j}.email")
                    )
        if not body.get("subject") and not p.get("subject"):
            errors.append(_error("The subject is required.", f"personalizations.{i}.subject"))
        for name in ("substitutions", "custom_args", "headers"):
            value = p.get(name, {})
            if not _strings(value):
                errors.append(
                    _error(
                        f"Invalid type for {name}: values must be strings.", f"personalizations.{i}.{name}"
                    )
                )
            elif name != "headers" and _size(value) > MAX_ARGS_BYTES:
                errors.append(
                    _error(f"The {name} may not exceed 10,000 bytes.", f"personalizations.{i}.{name}")
                )
            elif name == "headers" and RESERVED_HEADERS & {k.lower() for k in value}:
                errors.append(
                    _error("This header is reserved and cannot be set.", f"personalizations.{i}.headers")
                )
    return errors


class SendGridStandIn:
    def __init__(
        self, api_key: str = "SG.test-key", *, max_body: int = MAX_BODY, record: bool = True
    ) -> None:
        self.api_key = api_key
        self.max_body = max_body
        self.record = record
        self.received: list[Received] = []
        self.statuses: collections.Counter[int] = collections.Counter()
        self.personalizations = 0
        self.batch_sizes: list[int] = []
        self._plan: collections.deque[int] = collections.deque()
        self.delay = 0.0  # seconds each request takes, to observe parallel requests
        self.max_parallel = 0
        self._parallel = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="sendgrid", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plan(self, *codes: int) -> None:
        """The next requests answer these status codes, in order, before anything is checked."""
        with self._lock:
            self._plan.extend(codes)

    def recipients(self) -> list[str]:
        return [p["to"][0]["email"] for r in self.received for p in r.body["personalizations"]]

    def start(self) -> SendGridStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SendGridStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self._parallel += 1
            self.max_parallel = max(self.max_parallel, self._parallel)
        try:
            time.sleep(self.delay)
            return self._answer(headers, raw)
        finally:
            with self._lock:
                self._parallel -= 1

    def _answer(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            planned = self._plan.popleft() if self._plan else None
        if planned is not None:
            return self._planned(planned)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return (
                401,
                {},
                json.dumps(
                    {"errors": [_error("The provided authorization grant is invalid, expired, or revoked")]}
                ).encode(),
            )
        if headers.get("content-type") != "application/json":
            refusal = {"errors": [_error("Content-Type should be application/json.")]}
            return 415, {}, json.dumps(refusal).encode()
        if len(raw) > self.max_body:
            return 413, {}, json.dumps({"errors": [_error("Payload Too Large")]}).encode()
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {}, json.dumps({"errors": [_error("Bad Request")]}).encode()
        errors = validate(body)
        if errors:
            return 400, {}, json.dumps({"errors": errors}).encode()
        message_id = secrets.token_urlsafe(16)
        with self._lock:
            count = len(body["personalizations"])
            self.personalizations += count
            self.batch_sizes.append(count)
            if self.record:
                self.received.append(Received(message_id, body, headers))
        return 202, {"X-Message-Id": message_id}, b""

    @staticmethod
    def _planned(code: int) -> tuple[int, dict[str, str], bytes]:
        headers: dict[str, str] = {}
        if code == 429:
            headers = {
                "X-RateLimit-Limit": "600",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + 1),
            }
        message = {429: "too many requests", 413: "Payload Too Large"}.get(code, "internal error")
        return code, headers, json.dumps({"errors": [_error(message)]}).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers: dict[str, str] = {}
                if self.path.rstrip("/") != "/v3/mail/send":
                    code, payload = 404, json.dumps({"errors": [_error("not found")]}).encode()
                else:
                    code, headers, payload = stand_in.answer(
                        {name.lower(): value for name, value in self.headers.items()}, raw
                    )
                with stand_in._lock:
                    stand_in.statuses[code] += 1
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--key", default="SG.bench-key")
    args = parser.parse_args()
    server = SendGridStandIn(args.key, record=False).start()
    print(server.port, flush=True)
    try:
        sys.stdin.read()  # runs until the parent closes our stdin
    finally:
        print(
            json.dumps(
                {
                    "personalizations": server.personalizations,
                    "statuses": dict(server.statuses),
                    "cpu": time.process_time(),  # what checking the requests cost, for the benchmark
                }
            ),
            flush=True,
        )
        server.stop()


if __name__ == "__main__":
    main()
