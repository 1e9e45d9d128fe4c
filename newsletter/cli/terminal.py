"""Lines for the person at the terminal, on stderr: styled by rich on a terminal, plain text otherwise.

Importing rich costs about 0.07 s of CPU on this project's machines, a third of a 100-recipient send's
budget, and buys nothing when stderr is a log file, a pipe or cron's mail: there a send writes plain
lines (and a progress line every tenth of the list instead of a bar redrawn in place).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

ProgressCallback = Callable[[int, int], None]


def is_terminal() -> bool:
    return sys.stderr.isatty()


def say(text: str, *, lead: str = "", style: str = "") -> None:
    """``lead`` (in ``style`` on a terminal) then ``text``, as typed: nothing in it is read as markup."""
    if style and is_terminal():
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False).print(f"[{style}]{escape(lead)}[/] {escape(text)}".strip())
        return
    typer.echo(f"{lead} {text}".strip(), err=True)


@contextmanager
def progress(total: int, *, quiet: bool) -> Iterator[ProgressCallback]:
    """A callback ``(done, of)`` that shows how far a send is: a live bar on a terminal (gone at the end
    when ``quiet``, as with ``--json``), else a line at each tenth of the list (none when ``quiet``)."""
    if is_terminal():
        with _bar(total, transient=quiet) as update:
            yield update
        return
    started = time.monotonic()
    shown = 0

    def line(done: int, of: int) -> None:
        nonlocal shown
        step = max(1, of // 10)
        if quiet or (done < of and done - shown < step):
            return
        if done == shown:
            return
        shown = done
        elapsed = time.monotonic() - started
        rate = f", {done / elapsed:.0f}/s" if elapsed > 0 else ""
        typer.echo(f"sending: {done} of {of}{rate}", err=True)

    yield line


@contextmanager
def _bar(total: int, *, transient: bool) -> Iterator[ProgressCallback]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8.0f}/s"),
        TimeElapsedColumn(),
        console=Console(stderr=True, highlight=False),
        transient=transient,
    ) as bar:
        task = bar.add_task("send", total=total, rate=0.0)

        def update(done: int, of: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            bar.update(task, completed=done, total=of, rate=done / elapsed if elapsed else 0.0)

        yield update
