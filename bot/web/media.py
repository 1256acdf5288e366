"""``GET /media/{key}``: a member's stored file, served so it can never act as a page of ours.

The type is the one sniffed when the file was stored, and the browser is told not to guess
another (``nosniff``); the Content-Security-Policy sandboxes anything opened directly, so even
an odd file could run no script in our origin. PDFs download; images and videos show inline.
A withdrawn submission deletes its file, so caches keep a copy for a day, not forever.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from bot.media import MediaStore, StoredMedia, valid_key

CHUNK_BYTES = 256 * 1024
# Short: a withdrawn or erased file must leave caches soon after it leaves the store.
CACHE_CONTROL = "public, max-age=300"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def _disposition(stored: StoredMedia) -> str:
    kind = "attachment" if stored.content_type == "application/pdf" else "inline"
    plain = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in stored.filename)
    return f"{kind}; filename=\"{plain}\"; filename*=UTF-8''{quote(stored.filename, safe='')}"


def _etag_matches(header: str, etag: str) -> bool:
    """Say whether an If-None-Match value names ``etag`` (weak comparison, or "*")."""
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or f'"{etag}"' in candidates


def _byte_range(request: web.Request, stored: StoredMedia) -> tuple[int, int] | None:
    """Return the (start, stop) a Range header asks for; None to send the whole file.

    A Range header this server does not read (several ranges, another unit, junk) or an
    If-Range naming another version is ignored, as HTTP allows; one past the end is 416.
    """
    if "Range" not in request.headers:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != f'"{stored.sha256}"':
        return None
    try:
        wanted = request.http_range
    except ValueError:
        return None
    size = stored.size
    if wanted.start is not None and wanted.start < 0:  # the last N bytes
        start, stop = max(size + wanted.start, 0), size
    else:
        start = wanted.start or 0
        stop = size if wanted.stop is None else min(wanted.stop, size)
    if start >= size or start >= stop:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, stop


async def serve_media(request: web.Request, store: MediaStore) -> web.StreamResponse:
    """Answer GET or HEAD for one stored file: 200, 206 for a range, 304, or 404."""
    key = request.match_info["key"]
    stored = await store.stat(key) if valid_key(key) else None
    if stored is None:
        raise web.HTTPNotFound(text="No such file: it may have been withdrawn.")
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": CACHE_CONTROL,
        "ETag": f'"{stored.sha256}"',
        "Accept-Ranges": "bytes",
    }
    if _etag_matches(request.headers.get("If-None-Match", ""), stored.sha256):
        return web.Response(status=304, headers=headers)
    span = _byte_range(request, stored)
    start, stop = span or (0, stored.size)
    first = await store.read(key, start, min(stop, start + CHUNK_BYTES))
    if not first:
        raise web.HTTPNotFound(text="No such file: it may have been withdrawn.")
    response = web.StreamResponse(status=200 if span is None else 206, headers=headers)
    if span is not None:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{stored.size}"
    response.content_type = stored.content_type
    response.headers["Content-Disposition"] = _disposition(stored)
    response.content_length = stop - start
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    at, chunk = start, first
    while chunk:
        await response.write(chunk)
        at += len(chunk)
        if at >= stop:
            await response.write_eof()
            return response
        chunk = await store.read(key, at, min(stop, at + CHUNK_BYTES)) or b""
    # Deleted while being sent: close the connection, so the client sees a cut-off body
    # rather than waiting for bytes that will not come.
    if request.transport is not None:
        request.transport.close()
    return response
