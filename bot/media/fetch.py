"""Copying a file from where a platform keeps it (Discord's CDN, Slack's url_private)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from bot.errors import Invalid
from bot.media.files import called, too_large

log = logging.getLogger(__name__)
CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchedFile:
    """The bytes of a fetched file and the Content-Type its server said (not to be trusted)."""

    data: bytes = field(repr=False)
    content_type_header: str | None


def _failed(name: str, why: str, code: str) -> Invalid:
    return Invalid(
        f"Could not fetch {name} ({why}); try uploading it again.", field="file", code=code
    )


async def fetch(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 - aiohttp's total timeout, so the refusal can say why
    filename: str | None = None,
) -> FetchedFile:
    """Download ``url`` (http or https) into memory, reading at most ``max_bytes``.

    Front ends pass their own ``headers`` (Slack's bot token); they are sent, never logged,
    and aiohttp drops Authorization on a redirect to another origin. Raises
    Invalid(field="file") when the file is larger than ``max_bytes`` (reading stops there),
    when the server answers other than 2xx, on a network error and after ``timeout``
    seconds. ``filename`` names the file in those messages. Fetch only the URLs a platform
    gave for an attachment, never a link a member typed: the request comes from this host.
    """
    name = called(filename)
    try:
        target = URL(url)
    except ValueError:
        target = URL()
    if target.scheme not in ("http", "https") or not target.host:
        raise Invalid(
            f"{name[:1].upper()}{name[1:]} has no web address to fetch it from; try uploading it again.",
            field="file",
            code="file.url",
        )
    where = f"{target.scheme}://{target.host}"  # never the query: it may be a signature
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as client,
            client.get(
                target, headers=dict(headers or {}), max_redirects=MAX_REDIRECTS
            ) as response,
        ):
            if not 200 <= response.status < 300:
                log.info("media fetch from %s answered %d", where, response.status)
                raise _failed(name, f"the server answered {response.status}", "file.fetch")
            if response.content_length is not None and response.content_length > max_bytes:
                raise too_large(name, response.content_length, max_bytes)
            data = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                data += chunk
                if len(data) > max_bytes:
                    raise too_large(name, None, max_bytes)
            return FetchedFile(bytes(data), response.headers.get("Content-Type"))
    except TimeoutError:
        log.info("media fetch from %s timed out after %ss", where, timeout)
        raise _failed(name, "it took too long", "file.fetch_timeout") from None
    except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
        log.info("media fetch from %s failed: %s", where, type(exc).__name__)
        raise _failed(name, "the connection failed", "file.fetch") from None
