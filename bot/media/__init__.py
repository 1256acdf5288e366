"""The media store: members' files (images, videos, PDFs) copied in, checked on their bytes.

Attachment URLs do not last (Discord's CDN links are signed and expire; Slack's url_private
needs the bot token), so a front end hands the core the bytes (or a URL and its own auth
headers for :func:`fetch`), the core checks them with :func:`check_file` — the type is read
from the bytes (:func:`sniff`), never taken from the name or the claimed type — and keeps a
copy in the store (``runtime.media``); public surfaces link ``store.url(key)``, served by
``GET /media/{key}`` (``bot/web/media.py``) with the stored type, ``nosniff`` and a sandboxing
Content-Security-Policy.

How a front end or service uses it::

    fetched = await fetch(url, headers=auth, max_bytes=limit, timeout=seconds, filename=name)
    checked = check_file(fetched.data, filename=name,
                         claimed_type=fetched.content_type_header, max_bytes=limit)
    stored = await runtime.media.put(checked.data, content_type=checked.content_type,
                                     filename=checked.filename)
    link = runtime.media.url(stored.key)   # keep stored.key (and sha256, size) in the row

Keys are ``<16 hex random public id>.<extension of the sniffed type>`` (``bot.ids``), checked
by :data:`KEY_PATTERN` before any storage is touched. :class:`LocalMediaStore` keeps a folder
(``[media] dir``): the bytes under the key and a ``<key>.json`` record of what they are.

An S3-compatible store (AWS S3, R2, MinIO) implements the same :class:`MediaStore` protocol
with the same keys and is chosen in ``build_runtime``; none is built yet (no boto dependency):

- ``put``: :func:`prepare` the record, then ``PutObject`` with ``Key=key``,
  ``ContentType=content_type``, ``ContentDisposition`` from the filename and the record's
  ``sha256``/``filename`` as object metadata (``x-amz-meta-*``);
- ``stat``: ``HeadObject`` (None on 404), the record read back from its metadata;
- ``get``/``read``: ``GetObject``, with ``Range: bytes=start-(stop-1)`` for ``read``;
- ``delete``: ``DeleteObject`` (after a ``HeadObject`` to say whether it existed);
- ``url``: ``[web] public_url`` + ``/media/<key>`` as here (the route then reads through the
  store), or the bucket's CDN URL, or a presigned ``GetObject`` URL — a public bucket must
  then set the same ``nosniff``, CSP and Content-Disposition headers itself.
"""

from __future__ import annotations

from bot.media.fetch import FetchedFile, fetch
from bot.media.files import (
    CONTENT_TYPES,
    EXTENSIONS,
    CheckedFile,
    called,
    check_file,
    describe_size,
    safe_filename,
    sniff,
    too_large,
)
from bot.media.store import (
    KEY_PATTERN,
    LocalMediaStore,
    MediaStore,
    StoredMedia,
    new_key,
    prepare,
    valid_key,
)

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "KEY_PATTERN",
    "CheckedFile",
    "FetchedFile",
    "LocalMediaStore",
    "MediaStore",
    "StoredMedia",
    "called",
    "check_file",
    "describe_size",
    "fetch",
    "new_key",
    "prepare",
    "safe_filename",
    "sniff",
    "too_large",
    "valid_key",
]
