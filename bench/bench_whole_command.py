"""Whole-process figures: what a user waits for and pays for, start-up included.

Every figure here times a real ``newsletter`` process from the outside, the way an editor runs it:

- start-up: ``newsletter --help`` and ``newsletter send --help``, wall time (best of 5);
- SMTP: ``newsletter send SEED --yes`` to 1,000 and to 100 confirmed subscribers over SMTP to a local
  sink (tests/support/smtp_server.py, started here in its own process on 127.0.0.1), CPU time (user +
  system, from /usr/bin/time) of the whole process divided by the messages: start-up, preflight gate,
  render, reads, ledger and the SMTP client all count (best of 3, each on a fresh copy of the same
  database, after an untimed ``newsletter preflight`` as an editor runs it; once more without it, when
  the send's gate runs SpamAssassin itself);
- outbox: ``newsletter send`` (after an untimed preflight) of 10,000 messages to the outbox folder,
  messages per second of the whole command (wall, start-up included), against the naive way to do
  the same (build each message as an ``EmailMessage`` and write it to a file) measured in this
  process in the same run; once in a folder on this disk and once on tmpfs (/dev/shm) where there is
  one, since file creation on some disks costs as much as building the message (see memory_folder);
- serve: ``newsletter serve`` from the process start to the first answered request (best of 3).

    python bench/bench_whole_command.py [--quick] [--compare OTHER/.venv/bin/newsletter]

``--quick`` sends 2,000 instead of 10,000 outbox messages and runs each figure once. ``--compare``
runs the two SMTP sends with another installation too, taking turns (e.g. main's, for before/after).
"""

from __future__ import annotations

import argparse
import email.policy
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "samples" / "2011-07-11-weekly-highlights.yaml"
NEWSLETTER = Path(sys.executable).parent / "newsletter"
SMTP_POLICY = email.policy.SMTP.clone(max_line_length=998)

from bench_smtp import start_sink  # noqa: E402  (the sink in its own process; bench/ is on the path)


def environment(**extra: str) -> dict[str, str]:
    """This environment without NEWSLETTER_ settings, and with Python writing its bytecode cache as
    it does by default: a session that sets PYTHONDONTWRITEBYTECODE would compile every project module
    from source in every timed process (0.1 s of CPU per send), which no installed copy does."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSLETTER_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {**base, **extra}


def project(parent: Path, subscribers: int) -> Path:
    """A folder with an initialised database and ``subscribers`` confirmed demo readers (not timed)."""
    folder = parent / f"project-{subscribers}"
    folder.mkdir()
    subprocess.run(
        [NEWSLETTER, "init", "--demo", str(subscribers)],
        cwd=folder,
        env=environment(),
        check=True,
        capture_output=True,
    )
    return folder


def fresh_copy(template: Path, parent: Path) -> Path:
    """The same database and settings in a new folder, so each run sends to everyone again."""
    folder = Path(tempfile.mkdtemp(dir=parent))
    for name in ("newsletter.db", "newsletter.toml"):
        shutil.copy(template / name, folder / name)
    return folder


def timed(command: list[str | Path], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one whole process, as /usr/bin/time reports them."""
    report = cwd / "time.txt"
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %e", "-o", report, *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{result.stderr}")
    user, system, wall = (float(x) for x in report.read_text().split()[-3:])
    return user + system, wall


def help_wall(args: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([NEWSLETTER, *args], env=environment(), check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


LIBRARIES_OF_A_SEND = (
    "import sqlalchemy.orm, typer, pydantic, yaml, jinja2, mjml, css_inline, smtplib, email.message"
)
"""What a send cannot do without: the store's ORM, the command line, the digest's validation and parser,
the renderer and the SMTP client. Importing them and doing nothing is the floor of a send's CPU."""


def libraries_cpu(repeats: int) -> float:
    """Best CPU seconds of a process that imports the libraries a send uses, and does nothing else."""
    best = float("inf")
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeats):
            cpu, _ = timed([sys.executable, "-c", LIBRARIES_OF_A_SEND], Path(folder), environment())
            best = min(best, cpu)
    return best


def smtp_cpu_per_message(
    template: Path,
    parent: Path,
    port: int,
    count: int,
    repeats: int,
    commands: list[Path],
    *,
    preflighted: bool = True,
) -> list[float]:
    """Best CPU seconds per message of each command, the commands taking turns within each repeat.

    ``preflighted``: the editor's usual order, ``newsletter preflight`` (not timed) and then the send,
    whose own preflight gate reuses the SpamAssassin score kept by the first. Without it the send runs
    SpamAssassin itself (2-3 s of CPU in a Perl child, which /usr/bin/time counts)."""
    env = environment(NEWSLETTER_TRANSPORT="smtp", NEWSLETTER_SMTP_URL=f"smtp://127.0.0.1:{port}")
    best = [float("inf")] * len(commands)
    for _ in range(repeats):
        for index, command in enumerate(commands):
            folder = fresh_copy(template, parent)
            if preflighted:
                subprocess.run([command, "preflight", SEED], cwd=folder, env=env, capture_output=True)
            cpu, _ = timed([command, "send", SEED, "--yes", "--json"], folder, env)
            best[index] = min(best[index], cpu / count)
            shutil.rmtree(folder)
    return best


def naive_outbox_rate(folder: Path, count: int) -> float:
    """Build each message as an EmailMessage (the seed edition, the same headers) and write it to a file."""
    sys.path.insert(0, str(ROOT))
    from newsletter.config import Settings
    from newsletter.edition.digest import load_digest
    from newsletter.edition.render import Renderer

    settings = Settings(secret_key="bench-secret-0123456789abcdef", postal_address="PO Box 1")
    digest = load_digest(SEED)
    rendered = Renderer(settings.templates_dir).render_edition(digest, settings)
    folder.mkdir()
    started = time.perf_counter()
    for i in range(count):
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = settings.from_address
        message["To"] = f"Reader {i} <reader{i}@example.org>"
        message["Subject"] = rendered.subject
        message["Date"] = "Mon, 11 Jul 2011 07:00:00 +0000"
        message["Message-ID"] = f"<{i}.2011-07-11@example.org>"
        message["List-Unsubscribe"] = f"<https://example.org/u/{i}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(rendered.text, cte="quoted-printable")
        message.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
        (folder / f"{i}.eml").write_bytes(message.as_bytes())
    return count / (time.perf_counter() - started)


def outbox_rate(template: Path, parent: Path, count: int, outbox_parent: Path) -> float:
    folder = fresh_copy(template, parent)
    outbox = Path(tempfile.mkdtemp(dir=outbox_parent)) / "outbox"
    env = environment(NEWSLETTER_TRANSPORT="outbox", NEWSLETTER_OUTBOX_DIR=str(outbox))
    subprocess.run([NEWSLETTER, "preflight", SEED], cwd=folder, env=env, capture_output=True)  # not timed
    _, wall = timed([NEWSLETTER, "send", SEED, "--yes", "--json"], folder, env)
    sent = len(list(outbox.iterdir()))
    assert sent == count, f"outbox holds {sent} messages, expected {count}"
    shutil.rmtree(folder)
    shutil.rmtree(outbox.parent)
    return count / wall


def memory_folder(parent: Path, needed: int) -> Path | None:
    """A folder on tmpfs (Linux's /dev/shm) with room for ``needed`` bytes, or None.

    On this machine's root filesystem creating a file costs 0.15 to 0.6 ms of kernel time, depending on
    how many files were deleted before (perf: ext4's ``recently_deleted`` scan in inode allocation), so
    the outbox ratio there measures the disk as much as the program; on tmpfs it measures the program.
    """
    shm = Path("/dev/shm")
    if not shm.is_dir() or shutil.disk_usage(shm).free < 2 * needed:
        return None
    return Path(tempfile.mkdtemp(dir=shm, prefix=f"{parent.name}-"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_cold_start(template: Path, repeats: int) -> float:
    """Seconds from starting ``newsletter serve`` to the first 200 answer for the signup page."""
    best = float("inf")
    for _ in range(repeats):
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen(
            [NEWSLETTER, "serve", "--port", str(port)],
            cwd=template,
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            best = min(best, first_answer(port, started, server))
        finally:
            server.terminate()
            server.wait(timeout=10)
    return best


def first_answer(port: int, started: float, server: subprocess.Popen[bytes]) -> float:
    while server.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/")
            status = connection.getresponse().status
            connection.close()
        except OSError:
            time.sleep(0.002)
            continue
        if status == 200:
            return time.perf_counter() - started
        raise SystemExit(f"serve answered {status}")
    raise SystemExit(f"serve exited with {server.returncode}")


def line(label: str, measured: str, goal: str) -> None:
    print(f"  {label:<58} {measured:>14}   goal {goal}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2,000 outbox messages, one run of each")
    parser.add_argument(
        "--compare", type=Path, metavar="NEWSLETTER", help="another `newsletter` (e.g. main's): SMTP sends"
    )
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    outbox_count = 2_000 if args.quick else 10_000
    print("whole-process figures (a shared 2-core machine: expect ±20% between runs)")
    print("  (the SMTP and outbox sends follow an untimed `newsletter preflight`, as an editor runs them)")
    with tempfile.TemporaryDirectory() as tmp:
        parent = Path(tmp)
        line("newsletter --help, wall", f"{help_wall(['--help'], 5) * 1e3:.0f} ms", "≤ 150 ms")
        line("newsletter send --help, wall", f"{help_wall(['send', '--help'], 5) * 1e3:.0f} ms", "≤ 150 ms")

        small, large = project(parent, 100), project(parent, 1_000)
        sink, port = start_sink()
        try:
            commands = [NEWSLETTER, *([args.compare] if args.compare else [])]
            per_large = smtp_cpu_per_message(large, parent, port, 1_000, repeats, commands)
            per_small = smtp_cpu_per_message(small, parent, port, 100, repeats, commands)
            first = smtp_cpu_per_message(small, parent, port, 100, repeats, [NEWSLETTER], preflighted=False)
        finally:
            sink.communicate("", timeout=30)
        line("SMTP send, 1,000 recipients: CPU per message", f"{per_large[0] * 1e3:.3f} ms", "≤ 0.45 ms")
        line("SMTP send, 100 recipients: CPU per message", f"{per_small[0] * 1e3:.3f} ms", "≤ 2 ms")
        line("… 100, with no preflight before (SpamAssassin runs)", f"{first[0] * 1e3:.3f} ms", "")
        floor = libraries_cpu(max(3, repeats))
        line("importing the libraries a send uses, nothing else: CPU", f"{floor * 1e3:.0f} ms", "")
        line("… that alone, per message of a 1,000 / 100 send", f"{floor:.3f} / {floor * 10:.1f} ms", "")
        if args.compare:
            line(f"… {args.compare}, same runs, 1,000 / 100", f"{per_large[1] * 1e3:.3f} ms", "")
            line("", f"{per_small[1] * 1e3:.3f} ms", "")

        outbox_template = project(parent, outbox_count)
        naive_count = 300 if args.quick else 600
        places = [("this disk", parent)]
        in_memory = memory_folder(parent, outbox_count * 70_000)
        if in_memory:
            places.append(("tmpfs", in_memory))
        try:
            for place, folder in places:
                ours = outbox_rate(outbox_template, parent, outbox_count, folder)
                naive = naive_outbox_rate(Path(tempfile.mkdtemp(dir=folder)) / "naive", naive_count)
                line(f"outbox send, {outbox_count:,} messages, whole command, {place}", f"{ours:,.0f}/s", "")
                line(f"naive EmailMessage build-and-write, same run, {place}", f"{naive:,.0f}/s", "")
                line("… ratio", f"{ours / naive:.1f}×", "≥ 10×")
        finally:
            if in_memory:
                shutil.rmtree(in_memory)

        cold = serve_cold_start(small, repeats)
        line("newsletter serve to the first answered request", f"{cold:.2f} s", "≤ 1 s")


if __name__ == "__main__":
    main()
