"""Before pressing send: ``render``, ``preview``, ``preflight``, ``new-digest`` and ``publish``.

Heavy libraries (Playwright, markdown-it, the renderer's MJML) are imported inside the commands that use
them, so ``newsletter --help`` and unrelated commands start fast.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import database_of, report, settings_of
from newsletter.errors import DigestError, SendRefused

if TYPE_CHECKING:
    from newsletter.review.findings import Finding

DIGEST_HELP = "digest file (.md, .yaml or .json)"


def render_command(
    ctx: typer.Context,
    digest: Annotated[Path, typer.Argument(help=DIGEST_HELP)],
    out: Annotated[Path, typer.Option(help="folder for edition.html, edition.txt and sample.eml")] = Path(
        "preview"
    ),
) -> None:
    """Render a digest for preview: edition.html and edition.txt (with a sample reader) and sample.eml."""
    from newsletter.review.preview import write_preview

    for path in write_preview(settings_of(ctx), digest, out):
        typer.echo(str(path))


def preview_command(
    ctx: typer.Context,
    digest: Annotated[Path, typer.Argument(help=DIGEST_HELP)],
    out: Annotated[Path, typer.Option(help="folder for the editions, sample.eml and the screenshots")] = Path(
        "preview"
    ),
) -> None:
    """Write the editions, sample.eml, screenshots at 375 and 800 px and a contact sheet.

    The screenshots are taken with images blocked and shown (Debian's chromium), and the contact sheet
    puts the four side by side."""
    from newsletter.edition.digest import load_digest
    from newsletter.review.preview import write_sample
    from newsletter.review.sample import sample_edition
    from newsletter.review.screenshots import write_screenshots

    settings = settings_of(ctx)
    parsed = load_digest(digest)
    sample = sample_edition(settings, parsed)
    for path in write_sample(sample, out):
        typer.echo(str(path))
    shots, sheet = write_screenshots(sample.html, out, f"{parsed.title} ({sample.key})")
    for shot in shots:
        scroll = f"; scrolls sideways ({shot.scroll_width} px wide)" if shot.scroll_width > shot.width else ""
        typer.echo(f"{shot.path}  ({shot.label}{scroll})")
    typer.echo(f"{sheet}  (contact sheet)")


def print_findings(source: str, findings: list[Finding]) -> None:
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    typer.echo(f"{source}: {errors} error(s), {warnings} warning(s)", err=True)
    for finding in findings:
        where = f"{finding.where}: " if finding.where else ""
        typer.echo(f"  {finding.severity:<8} {where}{finding.message}", err=True)


def preflight_command(
    ctx: typer.Context,
    digest: Annotated[Path, typer.Argument(help=DIGEST_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
    spam: Annotated[bool, typer.Option("--spam/--no-spam", help="run SpamAssassin (a few seconds)")] = True,
) -> None:
    """Check an edition before sending; exit status 1 when there is an error.

    Size, links, images, unsubscribe, postal address, preheader, the two editions agreeing, colour
    contrast, SpamAssassin."""
    from newsletter.review.findings import has_errors
    from newsletter.review.preflight import run_preflight

    findings = run_preflight(settings_of(ctx), digest, spam_check=spam)
    if as_json:
        payload = {
            "digest": str(digest),
            "errors": sum(f.severity == "error" for f in findings),
            "warnings": sum(f.severity == "warning" for f in findings),
            "findings": [f.as_dict() for f in findings],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
    else:
        print_findings(str(digest), findings)
    if has_errors(findings):
        raise typer.Exit(1)


def new_digest_command(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", help="md or yaml")] = "md",
    date: Annotated[str | None, typer.Option(help="the edition's date, YYYY-MM-DD (default: today)")] = None,
    out: Annotated[Path | None, typer.Option(help="file to write (default: digests/DATE.md)")] = None,
) -> None:
    """Write a dated, commented digest to fill in (never over an existing file)."""
    from string import Template

    from newsletter.edition.render import DEFAULT_TEMPLATES_DIR
    from newsletter.readers.transactional import newsletter_name

    if format not in ("md", "yaml"):
        raise DigestError(f"--format {format!r}: use md or yaml")
    try:
        day = dt.date.fromisoformat(date) if date else dt.date.today()
    except ValueError:
        raise DigestError(f"--date {date!r}: use a date like 2026-12-07") from None
    path = out or Path("digests") / f"{day.isoformat()}.{format}"
    if path.exists():
        raise DigestError(f"{path} already exists; choose another --out or --date")
    settings = settings_of(ctx)
    template = Template((DEFAULT_TEMPLATES_DIR / "digest" / f"new.{format}").read_text(encoding="utf-8"))
    text = template.safe_substitute(
        newsletter=json.dumps(newsletter_name(settings), ensure_ascii=False), date=day.isoformat(), path=path
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as handle:
        handle.write(text)
    typer.echo(str(path))


def publish_command(
    ctx: typer.Context,
    edition: Annotated[str, typer.Argument(help="edition key (2011-07-11-weekly-highlights) or digest file")],
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Put an edition in the web archive now (an edition is archived anyway once its send starts)."""
    from newsletter.edition.digest import load_digest
    from newsletter.edition.slots import archive_url

    settings = settings_of(ctx)
    database = database_of(ctx)
    try:
        as_file = Path(edition)
        if as_file.suffix.lower() in (".md", ".markdown", ".yaml", ".yml", ".json") and as_file.exists():
            from newsletter.delivery.prepare import prepare_edition
            from newsletter.edition.render import Renderer

            prepared = prepare_edition(
                load_digest(as_file), Renderer(settings.templates_dir), database.ledger, settings
            )
            stored = prepared.edition
        else:
            found = database.ledger.find_edition(edition)
            if found is None:
                raise SendRefused(f"no edition {edition!r}: give its key or the digest file")
            stored = found
        newly = database.ledger.publish(stored.id)
        url = archive_url(settings.base_url, stored.key)
        report({"edition": stored.key, "published": True, "already": not newly, "url": url}, as_json)
    finally:
        database.close()
