"""Flywheel's own HTML pages: Jinja2 templates under ``bot/web/templates/``, one stylesheet.

Autoescape is on for every template, so whatever a page shows (an offer's name from
bot.toml, a member's name) is text, never markup. Every page goes out with headers that
keep it inert: ``nosniff``, a Content-Security-Policy that allows nothing from elsewhere
(no scripts at all, the stylesheet from this server only), no framing, no Referer (a buy
link carries a member's token in its query string: it must not leak to the next site),
and ``no-store``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

TEMPLATES = Path(__file__).with_name("templates")
STYLESHEET_PATH = "/assets/site.css"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@cache
def environment() -> jinja2.Environment:
    """Return the template environment (autoescape on, undefined names refused)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def page(template: str, *, status: int = 200, **context: Any) -> web.Response:
    """Render a template into an HTML response with the security headers."""
    html = environment().get_template(template).render(stylesheet=STYLESHEET_PATH, **context)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def message_page(
    *,
    community: str,
    title: str,
    paragraphs: list[str],
    status: int = 200,
    error_id: str | None = None,
) -> web.Response:
    """Render the one-message page (errors, thanks, canceled)."""
    return page(
        "message.html",
        status=status,
        community=community,
        title=title,
        paragraphs=paragraphs,
        error_id=error_id,
    )


@cache
def _stylesheet() -> bytes:
    return (TEMPLATES / "site.css").read_bytes()


async def stylesheet(request: web.Request) -> web.Response:
    """Serve the pages' one stylesheet."""
    response = web.Response(body=_stylesheet(), content_type="text/css", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def add_page_routes(app: web.Application) -> None:
    """Serve the stylesheet the pages link to."""
    app.router.add_get(STYLESHEET_PATH, stylesheet)
