"""SendGrid: v3 ``mail/send`` through the official client, up to 1,000 recipients per request.

The edition's HTML and text go once per request; each recipient is a *personalization* carrying only
what differs: the address, the slot values as ``substitutions``, the List-Unsubscribe headers, and
``custom_args`` naming the delivery, so event webhooks map back to edition and subscriber.

SendGrid applies every substitution to both the text and the HTML part, but the name must be
HTML-escaped in one and not in the other. So the slots get different keys per part (``%nl_t_name%`` in
the text, ``%nl_h_name%`` in the HTML) and each personalization carries both values.

The request body is written here as JSON text in list order, not with the client's ``Mail`` helper: that
helper inserts personalizations at the front (reversing them) and does not enforce the 1,000 limit
(DESIGN.md, pitfalls). The order matters: a 400 names the bad recipient by its index
(``personalizations.3.to.0.email``), which this module maps back to that one message (a bounce) before
sending the others again. The edition's part of the body is serialised once; each personalization is
one template filled with JSON-escaped values, and goes to the client's request step as bytes (see
``_post_json``): the client's own ``post`` would ``json.dumps`` a dict of a thousand dicts and then
format the whole payload into a debug message, logging on or off, which together cost more than half
of a 1,000-recipient request's CPU.

Replies: 202 accepted (X-Message-Id is the provider id); 429 waits until X-RateLimit-Reset and tries the
same request again (a rate limit is not an error of the list); 413 splits the batch in halves; 5xx is
retried a couple of times, then raises TemporaryFailure: nothing of the batch was tried, so the send
loop backs off and retries it without counting an attempt against any recipient (and without the
error threshold mistaking one SendGrid incident for a thousand bad addresses);
401/403 and unexplained 4xx concern every message alike and raise PermanentFailure; network errors
raise TemporaryFailure. The API key is never part of any message.
"""

from __future__ import annotations

import collections
import email
import email.policy
import email.utils
import html
import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from json.encoder import encode_basestring_ascii as json_string  # the C encoder json.dumps uses
from typing import Any

from python_http_client import exceptions as http_errors
from python_http_client.client import Client as HttpClient
from python_http_client.client import Response

from newsletter.config import Settings
from newsletter.delivery.message import OutboundMessage
from newsletter.delivery.personalise import NAME_FALLBACK, MessageTemplate
from newsletter.delivery.transports.base import Outcome, SendResult, Transport
from newsletter.edition.slots import slot_marker
from newsletter.errors import ConfigError, PermanentFailure, TemporaryFailure, TransportError

MAX_PERSONALIZATIONS = 1000
RATE_LIMIT_WAITS = 30  # consecutive 429s honoured before the batch is handed back as temporary
MAX_RATE_WAIT = 120.0
SERVER_RETRIES = 2
KEYS = {
    ("text", "name"): "%nl_t_name%",
    ("text", "unsubscribe_url"): "%nl_t_unsub%",
    ("html", "name"): "%nl_h_name%",
    ("html", "unsubscribe_url"): "%nl_h_unsub%",
}
TEXT_NAME, TEXT_UNSUBSCRIBE = KEYS["text", "name"], KEYS["text", "unsubscribe_url"]
HTML_NAME, HTML_UNSUBSCRIBE = KEYS["html", "name"], KEYS["html", "unsubscribe_url"]
HTML_SPECIAL = re.compile("[&<>\"']")
PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)\b")


def api_client(api_key: str, host: str, timeout: float) -> HttpClient:
    """The client ``sendgrid.SendGridAPIClient`` builds (same headers, v3), without importing the
    ``sendgrid`` package: its ``__init__`` imports every helper and ``cryptography`` (8 MB of a worker's
    memory, goal 100 MB) for nothing this transport calls. A test checks the two send the same request.
    """
    from importlib.metadata import version

    headers = {
        "Authorization": f"Bearer {api_key}",
        "User-Agent": f"sendgrid/{version('sendgrid')};python",
        "Accept": "application/json",
    }
    return HttpClient(host=host, request_headers=headers, version=3, timeout=timeout)


def _chunks(messages: Iterable[OutboundMessage], size: int) -> Iterator[list[OutboundMessage]]:
    batch: list[OutboundMessage] = []
    for message in messages:
        batch.append(message)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class EditionParts:
    """What every request of one edition shares, read back from a sample message the template builds."""

    def __init__(self, template: MessageTemplate) -> None:
        sample = OutboundMessage(
            subscriber_id=0,
            email="sample@example.invalid",
            name=slot_marker("name"),
            ref="sample",
            message_id="<sample@example.invalid>",
            envelope_from="sample@example.invalid",
            unsubscribe_url=slot_marker("unsubscribe_url"),
            unsubscribe_mailto="mailto:s@example.invalid",
        )
        parsed = email.message_from_bytes(template.build(sample), policy=email.policy.default)
        name, address = email.utils.parseaddr(str(parsed["From"]))
        self.sender: dict[str, str] = {"email": address, **({"name": name} if name else {})}
        self.subject = str(parsed["Subject"])
        self.headers = {h: str(parsed[h]) for h in ("List-Id", "Feedback-ID") if parsed[h] is not None}
        text_part, html_part = parsed.get_body(("plain",)), parsed.get_body(("html",))
        assert text_part is not None and html_part is not None
        text = text_part.get_content().replace("\r\n", "\n")
        body = html_part.get_content().replace("\r\n", "\n")
        for slot in ("name", "unsubscribe_url"):
            text = text.replace(slot_marker(slot), KEYS["text", slot])
            body = body.replace(slot_marker(slot), KEYS["html", slot])
        self.content = [{"type": "text/plain", "value": text}, {"type": "text/html", "value": body}]
        shared = {
            "from": self.sender,
            "subject": self.subject,
            "content": self.content,
            "headers": self.headers,
            "tracking_settings": {"subscription_tracking": {"enable": False}},  # our footer, our headers
        }
        self.json_tail = ("]," + json.dumps(shared, separators=(",", ":"))[1:]).encode("ascii")
        """What follows the personalizations in every request body of this edition, as JSON text."""


def _clean(value: str) -> str:
    """A value may not smuggle in another substitution key."""
    return value.replace("%nl_", "% nl_")


def _html(value: str) -> str:
    return html.escape(value) if HTML_SPECIAL.search(value) else value  # the common case costs one search


def personalization(message: OutboundMessage) -> str:
    """One recipient's personalization as JSON text: what differs per recipient, and nothing else.

    ``to``, the four substitution values, the List-Unsubscribe headers and ``custom_args.nl_ref``
    (signed; the event webhook maps events back by it). Every value goes through the JSON string
    encoder, so no name or address can end a string early or add a field.
    """
    name = _clean(message.name or NAME_FALLBACK)
    url = _clean(message.unsubscribe_url)
    ref = json_string(message.ref)
    to = json_string(message.email)
    if message.name:
        to += ',"name":' + json_string(message.name)
    unsubscribe = json_string(f"<{message.unsubscribe_url}>, <{message.unsubscribe_mailto}>")
    return (
        f'{{"to":[{{"email":{to}}}],"substitutions":{{"{TEXT_NAME}":{json_string(name)},'
        f'"{TEXT_UNSUBSCRIBE}":{json_string(url)},"{HTML_NAME}":{json_string(_html(name))},'
        f'"{HTML_UNSUBSCRIBE}":{json_string(_html(url))}}},"headers":{{"List-Unsubscribe":{unsubscribe},'
        f'"List-Unsubscribe-Post":"List-Unsubscribe=One-Click","X-Newsletter-Ref":{ref}}},'
        f'"custom_args":{{"nl_ref":{ref}}}}}'
    )


def _errors(exc: http_errors.HTTPError) -> list[dict[str, Any]]:
    try:
        found = json.loads(exc.body or b"{}").get("errors", [])
    except (ValueError, AttributeError):
        return []
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _describe(exc: http_errors.HTTPError) -> str:
    messages = "; ".join(str(e.get("message", "")) for e in _errors(exc) if e.get("message"))
    return f"{exc.status_code} {messages or exc.reason or 'no detail'}"[:500]


class SendGridTransport(Transport):
    name = "sendgrid"
    window = MAX_PERSONALIZATIONS

    def __init__(
        self,
        api_key: str,
        host: str = "https://api.sendgrid.com",
        *,
        concurrency: int = 2,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ConfigError("no SendGrid API key: set NEWSLETTER_SENDGRID_API_KEY")
        if concurrency < 1:
            raise ConfigError("sendgrid_concurrency must be at least 1")
        if not host.lower().startswith(("https://", "http://")):
            raise ConfigError(f"NEWSLETTER_SENDGRID_HOST must be an http(s) URL, not {host!r}")
        self._client = api_client(api_key, host.rstrip("/"), timeout)
        self._host = host
        self.concurrency = concurrency
        self.batch_hint = concurrency * MAX_PERSONALIZATIONS  # what the send loop should read at once
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._parts: tuple[MessageTemplate, EditionParts] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.requests = 0
        self.rate_limit_waits: list[float] = []

    @classmethod
    def from_settings(cls, settings: Settings) -> SendGridTransport:
        return cls(
            settings.sendgrid_api_key, settings.sendgrid_host, concurrency=settings.sendgrid_concurrency
        )

    def send(self, template: MessageTemplate, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return list(self.send_iter(template, messages))

    def send_iter(
        self, template: MessageTemplate, messages: Iterable[OutboundMessage]
    ) -> Iterator[SendResult]:
        """One request per 1,000 messages pulled from ``messages``, up to ``concurrency`` at once.

        The next body is built while earlier requests wait for SendGrid, and each request's results are
        yielded as soon as it is answered (oldest first). When a request fails for its whole batch, no
        further request starts; those in flight finish and are yielded, then the error is raised.
        """
        parts = self._edition_parts(template)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="sendgrid")
        in_flight: collections.deque[Future[list[SendResult]]] = collections.deque()
        failure: TransportError | None = None
        chunks = _chunks(messages, MAX_PERSONALIZATIONS)
        try:
            while True:
                while failure is None and len(in_flight) < self.concurrency:
                    batch = next(chunks, None)
                    if batch is None:
                        break
                    in_flight.append(self._pool.submit(self._post, parts, batch))
                if not in_flight:
                    break
                try:
                    yield from in_flight.popleft().result()
                except TransportError as exc:
                    failure = failure or exc
        finally:
            for future in in_flight:  # the consumer stopped early: let the requests in flight finish
                future.exception()
        if failure is not None:
            raise failure

    def close(self) -> None:
        self._parts = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _edition_parts(self, template: MessageTemplate) -> EditionParts:
        if self._parts is None or self._parts[0] is not template:
            self._parts = (template, EditionParts(template))
        return self._parts[1]

    def body(self, parts: EditionParts, batch: Sequence[OutboundMessage]) -> bytes:
        """The JSON request body for these recipients, in their order."""
        personalizations = ",".join([personalization(m) for m in batch]).encode("ascii")
        return b'{"personalizations":[' + personalizations + parts.json_tail

    def _post_json(self, body: bytes) -> Response:
        """POST a JSON body to v3 mail/send through the client's request step.

        The URL, the headers (the API key among them), the timeout and the mapping of HTTP errors to
        ``python_http_client.exceptions`` all stay the client's: only the body arrives already encoded.
        ``_make_request`` is the step the client keeps separate so that it can be replaced in tests;
        a test sends one body both ways and checks that the API receives the same request.
        """
        endpoint: HttpClient = self._client.mail.send
        request = urllib.request.Request(  # noqa: S310 (the host was checked to be http or https)
            endpoint._build_url(None),
            data=body,
            headers={**endpoint.request_headers, "Content-Type": "application/json"},
            method="POST",
        )
        return Response(endpoint._make_request(urllib.request.build_opener(), request))

    def _post(self, parts: EditionParts, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        body = self.body(parts, batch)
        rate_waits = server_errors = 0
        while True:
            with self._lock:
                self.requests += 1
            try:
                response = self._post_json(body)
            except http_errors.HTTPError as exc:
                code = int(exc.status_code)
                if code == 429 and rate_waits < RATE_LIMIT_WAITS:
                    rate_waits += 1
                    self._wait_for_reset(exc, rate_waits)
                    continue
                if code >= 500 and server_errors < SERVER_RETRIES:
                    server_errors += 1
                    self._sleep(self._rng.uniform(0.5, 1.0) * 2**server_errors)
                    continue
                return self._refused(parts, batch, exc)
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise TemporaryFailure(f"cannot reach SendGrid at {self._host}: {reason}") from None
            provider_id = str(response.headers.get("X-Message-Id", "") or "")
            code = response.status_code
            return [SendResult(m.subscriber_id, Outcome.accepted, provider_id, "", code) for m in batch]

    def _wait_for_reset(self, exc: http_errors.HTTPError, attempt: int) -> None:
        """Sleep until X-RateLimit-Reset (epoch seconds), or back off when the header is missing."""
        reset = exc.headers.get("X-RateLimit-Reset") if exc.headers is not None else None
        try:
            wait = float(reset) - self._clock() if reset is not None else float(2 ** min(attempt, 6))
        except ValueError:
            wait = float(2 ** min(attempt, 6))
        wait = min(MAX_RATE_WAIT, max(0.0, wait) + self._rng.uniform(0, 0.25))
        self.rate_limit_waits.append(wait)
        self._sleep(wait)

    def _refused(
        self, parts: EditionParts, batch: Sequence[OutboundMessage], exc: http_errors.HTTPError
    ) -> list[SendResult]:
        code = int(exc.status_code)
        detail = f"SendGrid {_describe(exc)}"
        if code in (401, 403):
            raise PermanentFailure(
                f"SendGrid refused the request ({detail}); check NEWSLETTER_SENDGRID_API_KEY "
                "and that the From address is a verified sender",
                code=code,
            )
        if code == 413:
            if len(batch) == 1:
                return [SendResult(batch[0].subscriber_id, Outcome.permanent, detail=detail, code=code)]
            half = len(batch) // 2
            return self._post(parts, batch[:half]) + self._post(parts, batch[half:])
        if code == 429 or code >= 500:  # nothing in the batch was tried: the send loop backs off and retries
            retry_after = self.rate_limit_waits[-1] if code == 429 and self.rate_limit_waits else None
            raise TemporaryFailure(detail, code=code, retry_after=retry_after)
        if code == 400:
            bad: dict[int, str] = {}
            for error in _errors(exc):
                match = PERSONALIZATION_FIELD.match(str(error.get("field") or ""))
                if match is None or int(match.group(1)) >= len(batch):
                    bad = {}
                    break
                bad[int(match.group(1))] = f"SendGrid 400 {error.get('message', '')}"[:500]
            if bad:  # only some recipients are invalid: they bounce, the others go again
                results = [
                    SendResult(batch[i].subscriber_id, Outcome.permanent, detail=d, code=code)
                    for i, d in sorted(bad.items())
                ]
                rest = [m for i, m in enumerate(batch) if i not in bad]
                return results + (self._post(parts, rest) if rest else [])
        raise PermanentFailure(f"SendGrid rejected the request ({detail})", code=code)
