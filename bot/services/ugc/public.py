"""Public data: approved submissions whose authors consented to public display.

``/proof.json`` and ``flywheel export --ugc-csv`` read only rows with ``public_at`` set
(approved with public consent, not withdrawn), newest first through one index, and show a
name only where the member chose "publicly with my name".
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Invalid
from bot.media import MediaStore
from bot.models import Consent, Member, UgcAttachment, UgcPrompt, UgcSubmission

MAX_PAGE = 100
DEFAULT_PAGE = 20


@dataclass(frozen=True)
class PublicFile:
    """A stored file of a public submission."""

    url: str
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class PublicItem:
    """A submission as public surfaces show it."""

    uid: str
    title: str
    story: str
    links: tuple[str, ...]
    files: tuple[PublicFile, ...]
    author: str | None  # only with the member's consent to be named
    consent: Consent
    featured: bool
    prompt: str | None
    approved_at: datetime

    def as_json(self) -> dict[str, object]:
        """Return the item as ``/proof.json`` serves it."""
        return {
            "id": self.uid,
            "title": self.title,
            "story": self.story,
            "links": list(self.links),
            "media": [
                {
                    "url": f.url,
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size": f.size,
                }
                for f in self.files
            ],
            "author": self.author,
            "featured": self.featured,
            "prompt": self.prompt,
            "approved_at": self.approved_at.isoformat(),
        }


@dataclass(frozen=True)
class PublicPage:
    """One page of public submissions, and the cursor of the next (None on the last)."""

    items: tuple[PublicItem, ...]
    next_cursor: str | None


def encode_cursor(at: datetime, row_id: int) -> str:
    """Return an opaque cursor naming the position after (at, id)."""
    raw = f"{int(at.timestamp() * 1_000_000)}.{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Read a cursor back, or raise Invalid naming the parameter."""
    try:
        if len(cursor) > 64:
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        micros, row_id = raw.split(".")
        if not (micros.isdigit() and row_id.isdigit() and len(micros) <= 18 and len(row_id) <= 18):
            raise ValueError(raw)
        at = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
        return at, int(row_id)
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError, OSError):
        raise Invalid(
            "before: not a cursor from this page; follow the `next` link as given.",
            field="before",
            code="cursor.invalid",
        ) from None


async def public_page(
    session: AsyncSession,
    community_id: int,
    *,
    store: MediaStore,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
    featured_only: bool = False,
) -> PublicPage:
    """Return a page of public submissions, newest first."""
    limit = max(1, min(limit, MAX_PAGE))
    query = (
        select(
            UgcSubmission.id,
            UgcSubmission.uid,
            UgcSubmission.title,
            UgcSubmission.story,
            UgcSubmission.links,
            UgcSubmission.consent,
            UgcSubmission.featured,
            UgcSubmission.public_at,
            Member.display_name,
            UgcPrompt.title,
        )
        .join(Member, Member.id == UgcSubmission.member_id)
        .outerjoin(UgcPrompt, UgcPrompt.id == UgcSubmission.prompt_id)
        .where(UgcSubmission.community_id == community_id, UgcSubmission.public_at.is_not(None))
        .order_by(UgcSubmission.public_at.desc(), UgcSubmission.id.desc())
        .limit(limit + 1)
    )
    if featured_only:
        query = query.where(UgcSubmission.featured.is_(True))
    if before:
        at, row_id = decode_cursor(before)
        # A row-value comparison, not ``public_at < at OR (public_at = at AND id < row_id)``:
        # with bound parameters SQLite cannot bound the index range by that OR, so a page
        # 9,000 items deep read the 9,000 newer rows first; (a, b) < (x, y) is a range.
        query = query.where(tuple_(UgcSubmission.public_at, UgcSubmission.id) < (at, row_id))
    rows = (await session.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    files = await _files(session, [row[0] for row in rows], store)
    items = tuple(
        PublicItem(
            uid=uid,
            title=title,
            story=story,
            links=tuple(links or ()),
            files=files.get(row_id, ()),
            author=name if consent == Consent.PUBLIC_NAMED else None,
            consent=consent,
            featured=featured,
            prompt=prompt,
            approved_at=public_at or datetime.min.replace(tzinfo=UTC),
        )
        for row_id, uid, title, story, links, consent, featured, public_at, name, prompt in rows
    )
    last = rows[-1] if more and rows else None
    next_cursor = encode_cursor(last[7], last[0]) if last is not None and last[7] else None
    return PublicPage(items, next_cursor)


async def _files(
    session: AsyncSession, ids: Sequence[int], store: MediaStore
) -> dict[int, tuple[PublicFile, ...]]:
    if not ids:
        return {}
    found: dict[int, list[PublicFile]] = {}
    rows = await session.execute(
        select(
            UgcAttachment.submission_id,
            UgcAttachment.media_key,
            UgcAttachment.filename,
            UgcAttachment.content_type,
            UgcAttachment.size,
        )
        .where(UgcAttachment.submission_id.in_(ids), UgcAttachment.media_key.is_not(None))
        .order_by(UgcAttachment.submission_id, UgcAttachment.position)
    )
    for submission_id, key, filename, content_type, size in rows:
        if key is None:
            continue
        found.setdefault(submission_id, []).append(
            PublicFile(store.url(key), filename, content_type, size)
        )
    return {key: tuple(value) for key, value in found.items()}


CSV_COLUMNS = (
    "id",
    "approved_at",
    "title",
    "story",
    "links",
    "media",
    "author",
    "consent",
    "featured",
    "prompt",
)


def _cell(value: str) -> str:
    """Return text safe in a spreadsheet: a leading =, +, -, @ is not read as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def csv_rows(
    session: AsyncSession, community_id: int, *, store: MediaStore
) -> list[list[str]]:
    """Return every public submission as CSV rows (header first), newest first."""
    rows: list[list[str]] = [list(CSV_COLUMNS)]
    cursor: str | None = None
    while True:
        page = await public_page(session, community_id, store=store, limit=MAX_PAGE, before=cursor)
        for item in page.items:
            rows.append(
                [
                    item.uid,
                    item.approved_at.isoformat(),
                    _cell(item.title),
                    _cell(item.story),
                    " ".join(item.links),
                    " ".join(f.url for f in item.files),
                    _cell(item.author or ""),
                    item.consent.value,
                    "yes" if item.featured else "no",
                    _cell(item.prompt or ""),
                ]
            )
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor
