"""The ``newsletter`` command line: the top of the stack, which may import every stage below it.

One module per command group (``init``, ``review``, ``send``, ``steering``, ``subscribers``,
``feedback``, ``serve``), the lazy registry that lists them in ``app`` (``lazy`` says how a command is
added), and the helpers every command shares in ``common``. No command module imports this package's
``__init__`` or ``app``; ``main`` is here only as the console-script entry point, and imports the app
when it runs.
"""

from __future__ import annotations

import gc

GC_THRESHOLD = (50_000, 20, 100)
"""Cyclic garbage collection runs every 50,000 allocations instead of 700: start-up creates about a
million objects (SQLAlchemy, pydantic, the models) that are all kept, and scanning them ~200 times
cost 5-14% of a command's start-up CPU. Cycles are still collected; a send's memory stays flat."""


def main() -> None:
    """The ``newsletter`` console script (and ``python send.py``)."""
    gc.set_threshold(*GC_THRESHOLD)
    from newsletter.cli.app import main as run

    run()
