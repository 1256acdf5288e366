"""Where members' files are kept: the MediaStore protocol and the local-folder store."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from bot.ids import UID_LENGTH, new_uid
from bot.media.files import EXTENSIONS, safe_filename, sniff

log = logging.getLogger(__name__)

# A key is a random public id and the extension of the sniffed type, nothing else: it is
# checked against this before any file system (or bucket) is touched, so no "..", no
# separator and no sidecar name can ever reach one.
KEY_PATTERN = re.compile(
    rf"[0-9a-f]{{{UID_LENGTH}}}\.(?:{'|'.join(sorted(set(EXTENSIONS.values())))})"
)
MEDIA_PATH = "/media/"


def valid_key(key: str) -> bool:
    """Say whether ``key`` has the shape of a media key (it may still name nothing)."""
    return isinstance(key, str) and KEY_PATTERN.fullmatch(key) is not None


def new_key(content_type: str) -> str:
    """Return a fresh key for a file of ``content_type``: "<16 hex>.<extension>"."""
    return f"{new_uid()}.{EXTENSIONS[content_type]}"


@dataclass(frozen=True)
class StoredMedia:
    """A file in the media store: what the UGC rows keep and the web route serves."""

    key: str
    content_type: str
    size: int
    sha256: str
    filename: str


class MediaStore(Protocol):
    """Keeps members' files under random keys and says where the public can fetch them."""

    async def put(self, data: bytes, *, content_type: str, filename: str) -> StoredMedia:
        """Store checked bytes (``content_type`` as sniffed) under a new key."""

    async def stat(self, key: str) -> StoredMedia | None:
        """Return what is stored under ``key``, or None (unknown, malformed or deleted)."""

    async def get(self, key: str) -> tuple[bytes, str] | None:
        """Return the bytes and content type under ``key``, or None."""

    async def read(self, key: str, start: int, stop: int) -> bytes | None:
        """Return bytes ``start`` to ``stop`` (exclusive) under ``key``, or None."""

    async def delete(self, key: str) -> bool:
        """Remove what is under ``key``; say whether there was anything."""

    def url(self, key: str) -> str:
        """Return the public URL of ``key``."""


def prepare(data: bytes, *, content_type: str, filename: str) -> StoredMedia:
    """Return the record of bytes about to be stored, under a new key.

    A store keeps only what :func:`~bot.media.check_file` accepted: bytes that do not sniff
    as ``content_type`` are a caller's mistake (ValueError), never stored.
    """
    sniffed = sniff(data)
    if sniffed != content_type:
        raise ValueError(f"bytes sniff as {sniffed}, not {content_type}; pass check_file's type")
    return StoredMedia(
        key=new_key(content_type),
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        filename=safe_filename(filename, content_type),
    )


class LocalMediaStore:
    """A folder on this machine: ``<key>`` holds the bytes, ``<key>.json`` what they are.

    Writes go to a temporary file that is then renamed, so a reader sees a whole file or
    none; the bytes are written before their record and removed after it, so a key whose
    record exists can be served. File I/O runs in a thread, off the event loop.
    """

    def __init__(self, root: Path, *, public_url: str) -> None:
        self.root = root
        self.public_url = public_url.rstrip("/")

    def __repr__(self) -> str:
        return f"LocalMediaStore({str(self.root)!r})"

    def _path(self, key: str) -> Path | None:
        return self.root / key if valid_key(key) else None

    async def put(self, data: bytes, *, content_type: str, filename: str) -> StoredMedia:
        """Store checked bytes (``content_type`` as sniffed) under a new key."""
        stored = prepare(data, content_type=content_type, filename=filename)
        await asyncio.to_thread(self._write, stored, data)
        return stored

    def _write(self, stored: StoredMedia, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"v": 1, **asdict(stored)}).encode()
        self._replace(self.root / stored.key, data)
        self._replace(self.root / f"{stored.key}.json", record)

    def _replace(self, path: Path, data: bytes) -> None:
        temporary = self.root / f".{path.name}.{new_uid()}.tmp"
        try:
            with temporary.open("xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    async def stat(self, key: str) -> StoredMedia | None:
        """Return what is stored under ``key``, or None (unknown, malformed or deleted)."""
        path = self._path(key)
        return None if path is None else await asyncio.to_thread(self._stat, path)

    def _stat(self, path: Path) -> StoredMedia | None:
        try:
            record = json.loads(path.with_name(f"{path.name}.json").read_bytes())
            stored = StoredMedia(
                key=path.name,
                content_type=str(record["content_type"]),
                size=int(record["size"]),
                sha256=str(record["sha256"]),
                filename=str(record["filename"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("media record %s is unreadable (%s)", path.name, type(exc).__name__)
            return None
        if EXTENSIONS.get(stored.content_type) != path.suffix.removeprefix("."):
            log.warning("media record %s names another type", path.name)
            return None
        return stored

    async def get(self, key: str) -> tuple[bytes, str] | None:
        """Return the bytes and content type under ``key``, or None."""
        stored = await self.stat(key)
        if stored is None:
            return None
        data = await self.read(key, 0, stored.size)
        return None if data is None else (data, stored.content_type)

    async def read(self, key: str, start: int, stop: int) -> bytes | None:
        """Return bytes ``start`` to ``stop`` (exclusive) under ``key``, or None."""
        path = self._path(key)
        if path is None or start < 0 or stop < start:
            return None
        return await asyncio.to_thread(self._read, path, start, stop)

    @staticmethod
    def _read(path: Path, start: int, stop: int) -> bytes | None:
        try:
            with path.open("rb") as file:
                file.seek(start)
                return file.read(stop - start)
        except (FileNotFoundError, IsADirectoryError):
            return None

    async def delete(self, key: str) -> bool:
        """Remove what is under ``key``; say whether there was anything."""
        path = self._path(key)
        return False if path is None else await asyncio.to_thread(self._delete, path)

    @staticmethod
    def _delete(path: Path) -> bool:
        found = False
        # The record first: from then on the key is unknown, even if the bytes stay.
        for part in (path.with_name(f"{path.name}.json"), path):
            try:
                part.unlink()
                found = True
            except FileNotFoundError:
                pass
        return found

    def url(self, key: str) -> str:
        """Return the public URL of ``key`` (under ``[web] public_url``)."""
        if not valid_key(key):
            raise ValueError(f"{key[:40]!r} is not a media key")
        return f"{self.public_url}{MEDIA_PATH}{key}"
