"""Server-rendered pages: one Jinja environment for templates/web, autoescaping everything.

Pages carry no JavaScript and no inline style (the CSP forbids both); the one stylesheet is served from
``/static``. An editor's ``templates_dir`` may override single pages; the rest come from the built-in set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from newsletter.config import PROJECT_ROOT, Settings
from newsletter.readers.transactional import newsletter_name
from newsletter.web.security import CsrfTokens

DEFAULT_WEB_TEMPLATES = PROJECT_ROOT / "templates"

TITLES = {
    400: "This request could not be understood",
    403: "This form could not be accepted",
    404: "Page not found",
    405: "This page cannot do that",
    413: "Too much data",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "Busy, please try again",
}


def static_dir(settings: Settings) -> Path:
    own = settings.templates_dir / "web" / "static"
    return own if own.is_dir() else DEFAULT_WEB_TEMPLATES / "web" / "static"


class Pages:
    """Renders the web templates with the context every page shares (list name, footer, CSRF token)."""

    def __init__(self, settings: Settings, csrf: CsrfTokens) -> None:
        search = [settings.templates_dir]
        if settings.templates_dir.resolve() != DEFAULT_WEB_TEMPLATES.resolve():
            search.append(DEFAULT_WEB_TEMPLATES)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # no stat() of every template per request; restart to pick up edits
        )
        self.csrf = csrf
        self.common: dict[str, Any] = {
            "newsletter": newsletter_name(settings),
            "postal_address": settings.postal_address,
            "base_url": settings.base_url.rstrip("/"),
            "embed": False,
        }

    def render(
        self, template: str, *, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        page = self.env.get_template(f"web/{template}.html.j2").render({**self.common, **context})
        return HTMLResponse(page, status_code=status, headers=dict(headers or {}))

    def form(
        self,
        *,
        embed: bool,
        status: int = 200,
        email: str = "",
        name: str = "",
        error: str = "",
        notice: str = "",
        site: str = "",
    ) -> HTMLResponse:
        """The signup form (full page or the compact embeddable one), refilled after a refusal."""
        return self.render(
            "embed" if embed else "signup",
            status=status,
            embed=embed,
            csrf_token=self.csrf.issue(),
            email=email,
            name=name,
            error=error,
            notice=notice,
            site=site,
            action="/embed" if embed else "/subscribe",
        )

    def message(
        self,
        status: int,
        text: str,
        *,
        title: str | None = None,
        embed: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        return self.render(
            "message",
            status=status,
            headers=headers,
            embed=embed,
            title=title or TITLES.get(status, "Error"),
            text=text,
        )
