"""Away from a terminal (a log, a pipe, cron) a send writes plain lines: no bar codes, no markup read."""

from __future__ import annotations

import pytest

from newsletter.cli.terminal import progress, say


def test_progress_is_a_line_at_each_tenth_and_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    with progress(1000, quiet=False) as shown:
        for done in range(0, 1001, 50):
            shown(done, 1000)
        shown(1000, 1000)  # told the end twice: said once
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [f"sending: {n} of 1000" for n in range(100, 1001, 100)]
    assert all("\x1b" not in line for line in lines)


def test_quiet_progress_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress(10, quiet=True) as shown:
        shown(10, 10)
    assert capsys.readouterr().err == ""


def test_text_is_written_as_typed(capsys: pytest.CaptureFixture[str]) -> None:
    say("[bold]not markup[/] <script>", lead="send stopped:", style="bold yellow")
    assert capsys.readouterr().err == "send stopped: [bold]not markup[/] <script>\n"
