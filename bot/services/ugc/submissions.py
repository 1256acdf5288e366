"""Submissions: a member shares text, links and files (``/share``), or takes them back.

Every typed field is checked here (front ends never re-validate), each refusal names its
field; files are checked on their bytes and copied into the media store, because the
platforms' own links expire or need a token.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.errors import Invalid, LimitReached, NotFound
from bot.inputs import clean_name, clean_text, name_key, shorten
from bot.media import EXTENSIONS, MediaStore, StoredMedia, check_file
from bot.models import (
    Consent,
    Member,
    SubmissionStatus,
    UgcAttachment,
    UgcMediaTrash,
    UgcPrompt,
    UgcSubmission,
)
from bot.outbox import send
from bot.outbox.registry import cancel_about
from bot.services.callers import Actor
from bot.services.ugc.messages import (
    ANONYMOUS,
    Shown,
    queue_post,
    review_subject,
    showcase_subject,
    withdrawn_review_edit,
    withdrawn_showcase_edit,
)
from bot.services.ugc.prompts import find_prompt
from bot.settings import Settings

TITLE_LENGTH = 100
STORY_LENGTH = 2000
LINKS_LENGTH = 1500  # the whole links field
LINK_LENGTH = 500
MAX_LINKS = 3
DAY = timedelta(hours=24)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class UgcRules:
    """The community's UGC settings (``[ugc]`` and ``[media] max_bytes``)."""

    daily_limit: int = 5
    max_attachments: int = 4
    approve_points: int = 25
    feature_points: int = 50
    max_bytes: int = 8 * 1024 * 1024

    @classmethod
    def of(cls, settings: Settings) -> UgcRules:
        """Return the rules a deployment's settings give."""
        ugc = settings.ugc
        return cls(
            daily_limit=ugc.daily_limit,
            max_attachments=ugc.max_attachments,
            approve_points=ugc.approve_points,
            feature_points=ugc.feature_points,
            max_bytes=settings.media.max_bytes,
        )


@dataclass(frozen=True)
class Draft:
    """What a member typed in the form (checked by :func:`submit`)."""

    title: str
    story: str = ""
    links: str = ""  # up to three http(s) links, separated by spaces or new lines
    consent: str = ""  # a Consent value
    prompt: str = ""  # a prompt's public id or title, or empty


@dataclass(frozen=True)
class IncomingFile:
    """A file as a front end fetched it, with what the platform reported about it."""

    filename: str
    data: bytes
    reported_url: str
    reported_type: str | None = None
    reported_size: int | None = None


@dataclass(frozen=True)
class SubmissionView:
    """A submission as its author and the moderators see it."""

    uid: str
    title: str
    status: SubmissionStatus
    consent: Consent
    featured: bool
    prompt: str | None
    submitted_at: datetime
    files: int


def check_consent(value: str) -> Consent:
    """Return the consent chosen, or refuse naming the choices."""
    try:
        return Consent(value.strip())
    except ValueError:
        raise Invalid(
            "Consent: choose how your post may be shown: publicly with your name, publicly "
            "without your name, or in the community only.",
            field="consent",
            code="consent.missing" if not value.strip() else "consent.unknown",
        ) from None


def check_links(text: str) -> tuple[str, ...]:
    """Return the links typed (http and https only, at most three), or refuse naming the link."""
    if len(text) > LINKS_LENGTH:
        raise Invalid(
            f"Link: give at most {MAX_LINKS} links of up to {LINK_LENGTH} characters.",
            field="link",
            code="link.length",
        )
    found: list[str] = []
    for raw in text.split():
        url = raw.strip("<>")
        parts = urlsplit(url) if not _CONTROL.search(url) else None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise Invalid(
                f"Link: {shorten(raw)!r} is not a web link; only http:// and https:// links "
                "can be shared.",
                field="link",
                code="link.scheme",
            )
        if len(url) > LINK_LENGTH:
            raise Invalid(
                f"Link: a link may be at most {LINK_LENGTH} characters; shorten it.",
                field="link",
                code="link.length",
            )
        if url not in found:
            found.append(url)
    if len(found) > MAX_LINKS:
        raise Invalid(f"Link: share at most {MAX_LINKS} links.", field="link", code="link.too_many")
    return tuple(found)


def _link_key(url: str) -> str:
    return url.lower().rstrip("/")


def content_key(title: str, story: str, links: tuple[str, ...], digests: list[str]) -> str:
    """Return the digest two submissions with the same content share.

    Title and story compare as names do (any script's capitals and widths, invisible
    characters and runs of spaces ignored), links without case or a trailing slash.
    """
    content = [name_key(title), name_key(story), sorted(_link_key(link) for link in links)]
    content.append(sorted(digests))
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def neutral_filename(content_type: str, position: int) -> str:
    """Return a file name that says nothing about its author ("image-1.jpg")."""
    kind = content_type.split("/", 1)[0] if content_type != "application/pdf" else "document"
    return f"{kind}-{position}.{EXTENSIONS[content_type]}"


def _retired_key(key: str, uid: str) -> str:
    """Return the content key of a withdrawn submission: it no longer blocks sharing again."""
    return hashlib.sha256(f"{key}:withdrawn:{uid}".encode()).hexdigest()


async def _refuse_over_limit(
    session: AsyncSession, clock: Clock, member_id: int, rules: UgcRules
) -> None:
    since = clock.now() - DAY
    recent = list(
        await session.scalars(
            select(UgcSubmission.submitted_at)
            .where(UgcSubmission.member_id == member_id, UgcSubmission.submitted_at > since)
            .order_by(UgcSubmission.submitted_at)
        )
    )
    if len(recent) >= rules.daily_limit:
        again = recent[len(recent) - rules.daily_limit] + DAY
        raise LimitReached(
            f"You have shared {len(recent)} times in the last 24 hours, the most a day; "
            f"you can share again after {again.strftime('%d %b %H:%M')} UTC."
        )


async def submit(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    draft: Draft,
    files: tuple[IncomingFile, ...] = (),
    *,
    store: MediaStore,
    rules: UgcRules,
    author: str | None = None,
) -> SubmissionView:
    """Record a member's submission, copy its files, and queue it for review."""
    title = clean_name(draft.title, field="title", what="Title", max_length=TITLE_LENGTH)
    story = (
        clean_text(draft.story, field="story", what="Story", max_length=STORY_LENGTH)
        if draft.story.strip() or len(draft.story) > STORY_LENGTH
        else ""
    )
    links = check_links(draft.links)
    consent = check_consent(draft.consent)
    prompt: UgcPrompt | None = None
    if draft.prompt.strip():
        prompt = await find_prompt(
            session, actor.community_id, draft.prompt, open_only=True, now=clock.now()
        )
    if len(files) > rules.max_attachments:
        raise Invalid(
            f"File: attach at most {rules.max_attachments} files.",
            field="file",
            code="file.too_many",
        )
    checked = [
        check_file(
            incoming.data,
            filename=incoming.filename,
            claimed_type=incoming.reported_type,
            max_bytes=rules.max_bytes,
        )
        for incoming in files
    ]
    if not story and not links and not files:
        raise Invalid(
            "Story: tell us something, or add a link or a file.",
            field="story",
            code="story.empty",
        )
    await _refuse_over_limit(session, clock, actor.member_id, rules)
    key = content_key(title, story, links, [hashlib.sha256(f.data).hexdigest() for f in files])
    earlier = await session.scalar(
        select(UgcSubmission.submitted_at).where(
            UgcSubmission.member_id == actor.member_id, UgcSubmission.content_key == key
        )
    )
    if earlier is not None:
        raise Invalid(
            f"Title: you shared this already on {earlier.strftime('%d %b')}; change it, or "
            "share something new.",
            field="title",
            code="duplicate",
        )
    stored: list[StoredMedia] = []
    try:
        for position, check in enumerate(checked, start=1):
            # "Publicly, without my name": a file's own name often is one; it is not kept.
            filename = (
                neutral_filename(check.content_type, position)
                if consent == Consent.PUBLIC_ANONYMOUS
                else check.filename
            )
            stored.append(
                await store.put(check.data, content_type=check.content_type, filename=filename)
            )
        submission = UgcSubmission(
            community_id=actor.community_id,
            member_id=actor.member_id,
            prompt_id=prompt.id if prompt else None,
            platform=actor.caller.platform,
            title=title,
            story=story,
            links=list(links),
            content_key=key,
            consent=consent,
            submitted_at=clock.now(),
        )
        try:
            async with session.begin_nested():
                session.add(submission)
                await session.flush()
        except IntegrityError:
            # The same form sent twice at once: the other request's row won the unique key.
            raise Invalid(
                "Title: you shared this just now; it is in the review queue.",
                field="title",
                code="duplicate",
            ) from None
        for position, (incoming, media) in enumerate(zip(files, stored, strict=True)):
            session.add(
                UgcAttachment(
                    submission_id=submission.id,
                    position=position,
                    media_key=media.key,
                    filename=media.filename,
                    content_type=media.content_type,
                    size=media.size,
                    sha256=media.sha256,
                    reported_url=incoming.reported_url[:2000],
                    reported_type=(incoming.reported_type or None) and incoming.reported_type[:200],
                    reported_size=incoming.reported_size,
                )
            )
        await session.flush()
        shown = await shown_of(session, submission, store=store, author=author)
        await send(
            session,
            clock,
            queue_post(shown),
            key=f"ugc-review:{submission.uid}",
            community_id=actor.community_id,
            members=(actor.member_id,),
        )
    except BaseException:
        for media in stored:
            await store.delete(media.key)
        raise
    return _view(submission, prompt.title if prompt else None, len(files))


def _view(submission: UgcSubmission, prompt: str | None, files: int) -> SubmissionView:
    return SubmissionView(
        uid=submission.uid,
        title=submission.title,
        status=submission.status,
        consent=submission.consent,
        featured=submission.featured and submission.status == SubmissionStatus.APPROVED,
        prompt=prompt,
        submitted_at=submission.submitted_at,
        files=files,
    )


async def shown_of(
    session: AsyncSession,
    submission: UgcSubmission,
    *,
    store: MediaStore,
    author: str | None = None,
) -> Shown:
    """Return what the queue and the showcase show of a submission."""
    if author is None:
        author = await session.scalar(
            select(Member.display_name).where(Member.id == submission.member_id)
        )
    prompt = None
    if submission.prompt_id is not None:
        prompt = await session.scalar(
            select(UgcPrompt.title).where(UgcPrompt.id == submission.prompt_id)
        )
    files = await session.execute(
        select(UgcAttachment.filename, UgcAttachment.media_key)
        .where(UgcAttachment.submission_id == submission.id)
        .order_by(UgcAttachment.position)
    )
    return Shown(
        uid=submission.uid,
        member_id=submission.member_id,
        author=author or ANONYMOUS,
        title=submission.title,
        story=submission.story,
        links=tuple(submission.links),
        files=tuple((name, store.url(key)) for name, key in files if key),
        consent=submission.consent,
        prompt=prompt,
        featured=submission.featured,
    )


async def my_submissions(
    session: AsyncSession, actor: Actor, *, typed: str = "", limit: int = 25, offset: int = 0
) -> list[SubmissionView]:
    """Return the caller's own submissions, newest first (autocomplete and listing)."""
    query = (
        select(UgcSubmission, UgcPrompt.title, func.count(UgcAttachment.id))
        .outerjoin(UgcPrompt, UgcPrompt.id == UgcSubmission.prompt_id)
        .outerjoin(UgcAttachment, UgcAttachment.submission_id == UgcSubmission.id)
        .where(UgcSubmission.member_id == actor.member_id)
        .group_by(UgcSubmission.id, UgcPrompt.title)
        .order_by(UgcSubmission.submitted_at.desc(), UgcSubmission.id.desc())
        .limit(max(limit * 4, 100) if typed else limit)
        .offset(0 if typed else offset)
    )
    key = name_key(typed)
    views = [
        _view(submission, prompt, int(count))
        for submission, prompt, count in await session.execute(query)
        if not key or key in name_key(submission.title) or typed.strip() == submission.uid
    ]
    return views[:limit]


@dataclass(frozen=True)
class MinePage:
    """One page of a member's own submissions, newest first."""

    items: tuple[SubmissionView, ...]
    page: int
    pages: int
    total: int


async def my_page(
    session: AsyncSession, actor: Actor, *, page: int = 1, per_page: int = 10
) -> MinePage:
    """Return a page of the caller's own submissions, newest first (a page past the end is
    the last one)."""
    total = int(
        await session.scalar(select(func.count()).where(UgcSubmission.member_id == actor.member_id))
        or 0
    )
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    views = await my_submissions(session, actor, limit=per_page, offset=(page - 1) * per_page)
    return MinePage(tuple(views), page, pages, total)


async def _mine(
    session: AsyncSession, actor: Actor, reference: str, *, lock: bool = False
) -> UgcSubmission:
    """Return the caller's own submission by public id or title, or raise NotFound.

    With ``lock`` the row is read afresh and held (``FOR UPDATE`` on PostgreSQL; SQLite's
    write transaction holds everything): a decision committed meanwhile is seen, and none
    can slip in before this transaction ends.
    """
    cleaned = reference.strip()
    uid = await session.scalar(
        select(UgcSubmission.uid).where(
            UgcSubmission.member_id == actor.member_id, UgcSubmission.uid == cleaned
        )
    )
    if uid is None:
        mine = await my_submissions(session, actor, typed=cleaned, limit=2)
        if len(mine) > 1:
            raise Invalid(
                f"Several of your submissions match {shorten(cleaned)!r}; pick one from the list.",
                field="submission",
                code="submission.ambiguous",
            )
        uid = mine[0].uid if mine else None
    query = select(UgcSubmission).where(UgcSubmission.uid == uid)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    submission = await session.scalar(query) if uid is not None else None
    if submission is None:
        raise NotFound(
            f"You have no submission called {shorten(cleaned)!r}; pick one from the list."
        )
    return submission


async def find_mine(session: AsyncSession, actor: Actor, reference: str) -> SubmissionView:
    """Return one of the caller's own submissions by public id or title (before asking to delete)."""
    submission = await _mine(session, actor, reference)
    files = await session.scalar(
        select(func.count(UgcAttachment.id)).where(UgcAttachment.submission_id == submission.id)
    )
    prompt = None
    if submission.prompt_id is not None:
        prompt = await session.scalar(
            select(UgcPrompt.title).where(UgcPrompt.id == submission.prompt_id)
        )
    return _view(submission, prompt, int(files or 0))


async def withdraw(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    reference: str,
    *,
    delete: bool,
    store: MediaStore,
) -> SubmissionView:
    """Withdraw consent for (or delete) one of the caller's own submissions.

    It leaves every public surface at once (``/proof.json``, the CSV, future showcase
    posts): the stored files are deleted, anything about it still queued is cancelled,
    and the posts already made are edited to say the member withdrew it.
    """
    submission = await _mine(session, actor, reference, lock=True)
    await retract(session, clock, submission, store=store)
    view = _view(submission, None, 0)
    if delete:
        await session.delete(submission)
        await session.flush()
    return view


async def retract(
    session: AsyncSession,
    clock: Clock,
    submission: UgcSubmission,
    *,
    store: MediaStore | None,
    erasing: bool = False,
) -> None:
    """Take a submission off every surface: files, queued posts, sent posts, the public list.

    The caller read ``submission`` under a lock (a decision cannot slip in between).
    Without a store (erasure runs where none is at hand) the files go to the trash, which
    the feature's job empties within a minute. ``erasing`` also empties the moderators'
    queue post of a decided submission (withdrawing consent leaves that one as it was).
    """
    was = submission.status
    submission.status = SubmissionStatus.WITHDRAWN
    submission.public_at = None
    submission.withdrawn_at = submission.withdrawn_at or clock.now()
    if was != SubmissionStatus.WITHDRAWN:
        submission.content_key = _retired_key(submission.content_key, submission.uid)
    attachments = await session.scalars(
        select(UgcAttachment).where(UgcAttachment.submission_id == submission.id)
    )
    for attachment in attachments:
        if attachment.media_key:
            if store is not None:
                await store.delete(attachment.media_key)
            else:
                await session.execute(
                    dialect_insert(session, UgcMediaTrash)
                    .values(media_key=attachment.media_key, queued_at=clock.now())
                    .on_conflict_do_nothing(index_elements=["media_key"])
                )
            attachment.media_key = None
    queued = [showcase_subject(submission.uid)]
    if was == SubmissionStatus.PENDING:
        queued.append(review_subject(submission.uid))  # no DM about it is queued yet
    await cancel_about(session, queued)
    await session.flush()
    # The edits go only where a post about it exists or is queued (the outbox looks).
    if was == SubmissionStatus.PENDING or erasing:
        await send(
            session,
            clock,
            withdrawn_review_edit(submission.uid, decided=was != SubmissionStatus.PENDING),
            key=f"ugc-withdrawn-review:{submission.uid}",
            community_id=submission.community_id,
        )
    await send(
        session,
        clock,
        withdrawn_showcase_edit(submission.uid),
        key=f"ugc-withdrawn:{submission.uid}",
        community_id=submission.community_id,
    )


__all__ = [
    "Draft",
    "IncomingFile",
    "MinePage",
    "SubmissionView",
    "UgcRules",
    "check_consent",
    "check_links",
    "content_key",
    "find_mine",
    "my_page",
    "my_submissions",
    "neutral_filename",
    "retract",
    "review_subject",
    "shown_of",
    "submit",
    "withdraw",
]
