"""Discord's CDN: attachment bytes served at signed URLs that expire, as the real CDN serves them.

An attachment URL looks like ``/attachments/<channel>/<id>/<name>?ex=…&is=…&hm=…`` (a file a bot
posted) or ``/ephemeral-attachments/<application>/<id>/<name>?ex=…&is=…&hm=…`` (a file a member
uploads into a command option or a modal). ``is`` is when the URL was issued and ``ex`` when it
expires, both hex Unix seconds of the sandbox's wall clock; ``hm`` is an HMAC of the attachment id
and both times. Past ``ex``, or with a signature that does not match, the CDN answers 404 with a
plain-text page, as Discord's does: a bot must keep a copy of a file it needs later.

The CDN serves what it was given: the content type the upload declared (right or wrong, never
sniffed) and the bytes as they are, whatever size the attachment object claims.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from aiohttp import web

# Discord's signed attachment URLs last about a day.
CDN_URL_TTL: Final = 24 * 3600.0
EXPIRED_TEXT: Final = "This content is no longer available."
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class CdnFile:
    """One stored file: its bytes and the content type it was declared with (None: unknown)."""

    data: bytes
    content_type: str | None


class Cdn:
    """The files behind attachment URLs, and the signing of those URLs."""

    def __init__(self, *, wall_clock: Callable[[], float], base_url: Callable[[], str]) -> None:
        self._wall_clock = wall_clock
        self._base_url = base_url
        self._key = secrets.token_bytes(32)
        self.ttl: float = CDN_URL_TTL
        # The bytes by attachment id (the sandbox's ``attachments`` view) and their types.
        self.data: dict[int, bytes] = {}
        self.content_types: dict[int, str | None] = {}

    def store(self, attachment_id: int, data: bytes, content_type: str | None) -> None:
        """Keep a file's bytes and declared content type."""
        self.data[attachment_id] = data
        self.content_types[attachment_id] = content_type

    def url(self, folder: str, owner_id: int, attachment_id: int, filename: str) -> str:
        """Return a freshly signed URL for a stored file (folder: attachments or ephemeral-…)."""
        issued = int(self._wall_clock())
        expires = int(issued + self.ttl)
        ex, is_ = f"{expires:x}", f"{issued:x}"
        path = f"/{folder}/{owner_id}/{attachment_id}/{quote(filename, safe='')}"
        return f"{self._base_url()}{path}?ex={ex}&is={is_}&hm={self._mac(attachment_id, ex, is_)}"

    def _mac(self, attachment_id: int, ex: str, is_: str) -> str:
        message = f"{attachment_id}:{ex}:{is_}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def valid(self, attachment_id: int, query: dict[str, str]) -> bool:
        """Tell whether a URL's signature is ours and it has not expired yet."""
        ex, is_, hm = query.get("ex", ""), query.get("is", ""), query.get("hm", "")
        try:
            expires = int(ex, 16)
        except ValueError:
            return False
        if not hmac.compare_digest(self._mac(attachment_id, ex, is_), hm):
            return False
        return self._wall_clock() < expires

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Answer a GET of an attachment URL: the bytes, or 404 when unknown, expired or forged."""
        try:
            attachment_id = int(request.match_info["attachment_id"])
        except ValueError:
            attachment_id = -1
        data = self.data.get(attachment_id)
        if data is None or not self.valid(attachment_id, dict(request.query)):
            return web.Response(status=404, text=EXPIRED_TEXT)
        # Set verbatim: a declared type is served as declared, even when it lies about the bytes.
        content_type = self.content_types.get(attachment_id) or "application/octet-stream"
        return web.Response(body=data, headers={"Content-Type": content_type})


def image_size(data: bytes) -> tuple[int, int] | None:
    """Return a PNG's width and height from its header (Discord probes the bytes, not the type)."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
