"""``newsletter render``: what an editor looks at before pressing send."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.common import settings_of


def render_command(
    ctx: typer.Context,
    digest: Annotated[Path, typer.Argument(help="digest file (.yaml or .json)")],
    out: Annotated[Path, typer.Option(help="folder for edition.html, edition.txt and sample.eml")] = Path(
        "preview"
    ),
) -> None:
    """Render a digest for preview: edition.html and edition.txt (with a sample reader) and sample.eml."""
    from newsletter.review.preview import write_preview

    paths = write_preview(settings_of(ctx), digest, out)
    for path in paths:
        typer.echo(str(path))
