"""SMTP throughput: our transport (and the whole send loop) against a raw socket blaster, same sink.

The sink is the minimal asyncio SMTP server of tests/smtp_server.py, in its own process (aiosmtpd would
be the bottleneck, DESIGN.md). The blaster is the ceiling: N threads, one socket each, pre-built bytes,
MAIL/RCPT/DATA pipelined with the previous message's content, no personalisation,
no ledger. Against it, in the same run:

- transport: SmtpTransport with N connections, each message personalised (slots filled) on the way;
- send loop: the same, plus keyset reads and ledger writes on SQLite (Sender.send), the real command's path.

    python bench/bench_smtp.py [--messages 3000] [--concurrency 4] [--rounds 5] [--full]

By default the sample edition cut to one section (~19 KB messages); ``--full`` sends the whole sample.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.config import Settings  # noqa: E402
from newsletter.database import open_database  # noqa: E402
from newsletter.delivery.links import Links  # noqa: E402
from newsletter.delivery.prepare import PreparedEdition, prepare_edition  # noqa: E402
from newsletter.delivery.send_loop import Sender  # noqa: E402
from newsletter.delivery.transports.smtp import SmtpTransport  # noqa: E402
from newsletter.edition.digest import Lead, load_digest  # noqa: E402
from newsletter.edition.render import Renderer  # noqa: E402
from subscribers import Consent, Status  # noqa: E402
from subscribers.models import utcnow  # noqa: E402


def start_sink() -> tuple[subprocess.Popen[str], int]:
    sink = subprocess.Popen(
        [sys.executable, "-m", "tests.support.smtp_server"],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert sink.stdout is not None
    return sink, int(sink.stdout.readline())


def stop_sink(sink: subprocess.Popen[str]) -> str:
    out, _ = sink.communicate("", timeout=30)
    return out.strip()


def blast(port: int, raws: list[bytes], concurrency: int) -> float:
    """Messages per second for pre-built DATA over ``concurrency`` sockets, one round trip per message.

    Each write is one message's content followed by the next message's MAIL, RCPT and DATA (RFC 2920), the
    way SmtpTransport pipelines: the same protocol, with none of the work.
    """
    chunks = [raws[i::concurrency] for i in range(concurrency)]

    def worker(chunk: list[bytes]) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reader = sock.makefile("rb")
            reader.readline()
            sock.sendall(b"EHLO blaster\r\n")
            while not reader.readline().startswith(b"250 "):
                pass
            commands = b"MAIL FROM:<b@example.org>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n"
            sock.sendall(commands)
            for index, data in enumerate(chunk):
                for _ in range(3):  # MAIL, RCPT, DATA
                    reader.readline()
                last = index == len(chunk) - 1
                sock.sendall(data + (b"QUIT\r\n" if last else commands))  # content, next commands
                reader.readline()  # end of data
            reader.readline()  # QUIT

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(raws) / (time.perf_counter() - started)


def prepare(folder: Path, count: int, full: bool) -> tuple[Settings, PreparedEdition, Sender]:
    settings = Settings(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        secret_key="bench-secret-0123456789abcdef",
        postal_address="PO Box 1",
        from_address="News <news@example.org>",
        batch_size=500,
    )
    database = open_database(settings, migrate=True)
    rows = [(f"reader{i}@example.org", f"Reader {i}") for i in range(count)]
    database.store.add_many(rows, status=Status.confirmed, consent=Consent("bench"))
    digest = load_digest(ROOT / "samples" / "2011-07-11-weekly-highlights.yaml")
    if not full:
        digest = digest.model_copy(
            update={
                "lead": Lead(title="A short lead", paragraphs=("One paragraph.",)),
                "sections": digest.sections[:1],
            }
        )
    prepared = prepare_edition(digest, Renderer(settings.templates_dir), database.ledger, settings)
    sender = Sender(
        settings=settings,
        store=database.store,
        ledger=database.ledger,
        links=Links(settings),
        transport=SmtpTransport("smtp://127.0.0.1:1"),
    )  # outbound() only; never sends
    return settings, prepared, sender


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--full", action="store_true", help="the whole sample edition, not one section")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings, prepared, sender = prepare(Path(tmp), args.messages, args.full)
        recipients = sender._ledger.pending_batch(prepared.edition.id, 0, args.messages, utcnow()).to_send
        messages = [sender.outbound(prepared.edition.key, prepared.edition.id, r) for r in recipients]
        template = prepared.template
        started = time.perf_counter()
        raws = [template.build_data(m) for m in messages]
        build_us = (time.perf_counter() - started) / len(messages) * 1e6
        size = sum(len(r) for r in raws) / len(raws)
        sink, port = start_sink()
        try:
            blast(port, raws[: min(500, len(raws))], args.concurrency)  # warm-up
            transport = SmtpTransport(f"smtp://127.0.0.1:{port}", concurrency=args.concurrency)
            transport.send(template, messages[:200])  # warm-up, connections open
            blasters, ours = [], []
            cpu = {"blaster": 0.0, "transport": 0.0}
            for _ in range(args.rounds):  # interleaved, best of each: a busy machine slows both alike
                cpu_start = time.process_time()
                blasters.append(blast(port, raws, args.concurrency))
                cpu["blaster"] += time.process_time() - cpu_start
                started, cpu_start = time.perf_counter(), time.process_time()
                results = transport.send(template, messages)
                ours.append(len(results) / (time.perf_counter() - started))
                cpu["transport"] += time.process_time() - cpu_start
                assert all(r.outcome == "accepted" for r in results)
            per_message = {k: v / (args.rounds * len(messages)) * 1e6 for k, v in cpu.items()}
            blaster, best = max(blasters), max(ours)

            loop_settings = settings.replace(
                smtp_url=f"smtp://127.0.0.1:{port}", smtp_concurrency=args.concurrency
            )
            database = open_database(loop_settings)
            loop = Sender(
                settings=loop_settings,
                store=database.store,
                ledger=database.ledger,
                links=Links(loop_settings),
                transport=transport,
            )
            summary = loop.send(prepared)
            transport.close()
            database.close()
        finally:
            received = stop_sink(sink)
    rounds = ", ".join(f"{b:.0f}" for b in blasters)
    print(
        f"{args.messages} messages of {size / 1024:.1f} KB, {args.concurrency} connections; "
        f"sink got: {received}"
    )
    print(f"  raw socket blaster    {blaster:7.0f} messages/s   (rounds: {rounds})")
    rounds = ", ".join(f"{o:.0f}" for o in ours)
    print(
        f"  SmtpTransport         {best:7.0f} messages/s   {best / blaster:6.1%} of the blaster "
        f"(rounds: {rounds})"
    )
    print(
        f"  send loop + ledger    {summary.rate:7.0f} messages/s   "
        f"{summary.rate / blaster:6.1%} of the blaster"
    )
    print(
        f"  client CPU per message: blaster {per_message['blaster']:.0f} µs, transport "
        f"{per_message['transport']:.0f} µs (of which building the message {build_us:.0f} µs)"
    )


if __name__ == "__main__":
    main()
