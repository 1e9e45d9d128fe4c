"""The ``newsletter`` command line: the top of the stack, which may import every stage below it.

One module per command group (``init``, ``review``, ``send``, ``steering``, ``subscribers``,
``feedback``, ``serve``), the Typer app that registers them in ``app``, and the helpers every command
shares in ``common``. No command module imports this package's ``__init__`` or ``app``; ``main`` is here
only as the console-script entry point, and imports the app when it runs.
"""

from __future__ import annotations


def main() -> None:
    """The ``newsletter`` console script (and ``python send.py``)."""
    from newsletter.cli.app import main as run

    run()
