"""``GET /proof.json``: the community's approved public submissions, for the brand's own site.

Only what members agreed to show publicly is here, and a name only where they agreed to be
named (:func:`bot.services.ugc.public_page` filters; this module only serves). Newest first,
in pages: ``limit`` (1..100, default 20), ``before`` (the cursor inside the previous page's
``next`` link) and ``featured=1`` (featured items only).

The body is JSON served as ``application/json`` with ``nosniff``, so a story holding HTML is
text, never markup; ``<``, ``>`` and ``&`` are escaped as ``\\u003c``-style sequences too, so the
body stays inert even pasted into a ``<script>`` block. Any origin may read it (the brand's
store embeds it). It is read in a session that never takes SQLite's write lock, so a burst of
writers does not hold up the page, nor the page the writers.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import read_sessions
from bot.errors import Invalid
from bot.runtime import Runtime
from bot.services import ugc

PATH = "/proof.json"
# Short on purpose: a member who withdraws consent must leave every cache within a minute.
CACHE_CONTROL = "public, max-age=60"
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Access-Control-Allow-Origin": "*",
}
JSON_TYPE = "application/json; charset=utf-8"
LIMIT_PATTERN = re.compile(r"[0-9]{1,3}")
FEATURED_VALUES = {"1": True, "true": True, "0": False, "false": False, "": False}
# Characters that could end a <script> block or open markup if the JSON were ever pasted into
# HTML, and the two line separators old JavaScript parsers choke on.
INERT = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


@dataclass(frozen=True)
class ProofSource:
    """What the route reads: the runtime (community, media store, settings) and read sessions."""

    runtime: Runtime
    reads: async_sessionmaker[AsyncSession]


SOURCE = web.AppKey("proof", ProofSource)


@dataclass(frozen=True)
class Query:
    """The page a request asks for."""

    limit: int | None
    before: str | None
    featured: bool


def _one(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise Invalid(f"{name}: given {len(values)} times; send it once.", field=name)
    return values[0] if values else None


def read_query(request: web.Request) -> Query:
    """Read ``limit``, ``before`` and ``featured``, or raise Invalid naming the parameter."""
    limit_text = _one(request, "limit")
    limit: int | None = None
    if limit_text is not None:
        if not LIMIT_PATTERN.fullmatch(limit_text) or not 1 <= int(limit_text) <= ugc.MAX_PAGE:
            raise Invalid(
                f"limit: send a whole number from 1 to {ugc.MAX_PAGE} (default {ugc.DEFAULT_PAGE}).",
                field="limit",
                code="limit.invalid",
            )
        limit = int(limit_text)
    featured_text = _one(request, "featured")
    featured = FEATURED_VALUES.get((featured_text or "").lower())
    if featured is None:
        raise Invalid(
            "featured: send featured=1 for featured items only, or leave it out for all.",
            field="featured",
            code="featured.invalid",
        )
    before = _one(request, "before") or None
    if before is not None:
        ugc.decode_cursor(before)  # a bad cursor is refused before any database work
    return Query(limit, before, featured)


def dumps(document: object) -> bytes:
    """Return compact UTF-8 JSON that stays inert inside HTML."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.translate(INERT).encode("utf-8")


def etag_of(body: bytes) -> str:
    """Return a strong ETag for the body: it changes whenever a byte of it does."""
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def etag_matches(header: str, etag: str) -> bool:
    """Say whether an If-None-Match value (one tag, a list, or "*") names ``etag``.

    If-None-Match compares weakly, so ``W/"…"`` matches the strong tag it wraps.
    """
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in candidates or etag in candidates


def _next_url(public_url: str, query: Query, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params: list[tuple[str, str]] = []
    if query.limit is not None:
        params.append(("limit", str(query.limit)))
    if query.featured:
        params.append(("featured", "1"))
    params.append(("before", cursor))
    # Absolute, from the configured public URL (as media links are), never from the request's
    # Host header: a cached page cannot be made to point elsewhere.
    return f"{public_url.rstrip('/')}{PATH}?{urlencode(params)}"


def _refusal(exc: Invalid) -> web.Response:
    body = {"error": str(exc), "parameter": exc.field, "code": exc.code}
    return web.Response(
        status=400,
        body=dumps(body),
        headers={**COMMON_HEADERS, "Content-Type": JSON_TYPE, "Cache-Control": "no-store"},
    )


async def proof_json(request: web.Request) -> web.Response:
    """Answer GET (and HEAD) /proof.json: 200 with a page, 304 when unchanged, 400 on bad input."""
    source = request.app[SOURCE]
    runtime = source.runtime
    try:
        query = read_query(request)
        async with source.reads() as session:
            page = await ugc.public_page(
                session,
                runtime.community_id,
                store=runtime.media,
                limit=query.limit or ugc.DEFAULT_PAGE,
                before=query.before,
                featured_only=query.featured,
            )
    except Invalid as exc:
        return _refusal(exc)
    body = dumps(
        {
            "items": [item.as_json() for item in page.items],
            "next": _next_url(runtime.settings.web.public_url, query, page.next_cursor),
            "community": runtime.settings.community.name,
        }
    )
    etag = etag_of(body)
    headers = {**COMMON_HEADERS, "Cache-Control": CACHE_CONTROL, "ETag": etag}
    if etag_matches(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={**headers, "Content-Type": JSON_TYPE})


def add_proof_routes(app: web.Application, runtime: Runtime) -> None:
    """Serve ``GET /proof.json`` (and HEAD) from the runtime's community."""
    app[SOURCE] = ProofSource(runtime, read_sessions(runtime.engine))
    app.router.add_get(PATH, proof_json)
