"""UGC's part of `/privacy export`, `/privacy delete`, linking and `flywheel export`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.reassign import reassign
from bot.features import ExportTable
from bot.media import MediaStore
from bot.models import UgcAttachment, UgcMediaTrash, UgcPrompt, UgcSubmission
from bot.services.ugc.submissions import retract

MEMBER_TABLES = ("ugc_prompts", "ugc_submissions", "ugc_attachments")
ANONYMOUS_TABLES = ("ugc_media_trash",)


async def export_member(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return a member's submissions (with their files and review) and the prompts they wrote."""
    submissions = (
        await session.execute(
            select(UgcSubmission, UgcPrompt.title)
            .outerjoin(UgcPrompt, UgcPrompt.id == UgcSubmission.prompt_id)
            .where(UgcSubmission.member_id == member_id)
            .order_by(UgcSubmission.submitted_at, UgcSubmission.id)
        )
    ).all()
    files: dict[int, list[dict[str, Any]]] = {}
    if submissions:
        rows = await session.scalars(
            select(UgcAttachment)
            .where(UgcAttachment.submission_id.in_([s.id for s, _ in submissions]))
            .order_by(UgcAttachment.position)
        )
        for a in rows:
            files.setdefault(a.submission_id, []).append(
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "stored_as": a.media_key,
                    "reported_url": a.reported_url,
                    "reported_type": a.reported_type,
                    "reported_size": a.reported_size,
                }
            )
    prompts = await session.scalars(
        select(UgcPrompt.title).where(UgcPrompt.created_by == member_id).order_by(UgcPrompt.id)
    )
    return {
        "submissions": [
            {
                "id": s.uid,
                "title": s.title,
                "story": s.story,
                "links": list(s.links),
                "prompt": prompt,
                "consent": s.consent.value,
                "status": s.status.value,
                "featured": s.featured,
                "submitted_at": s.submitted_at.isoformat(),
                "decided_at": s.decided_at.isoformat() if s.decided_at else None,
                "reject_reason": s.reject_reason,
                "withdrawn_at": s.withdrawn_at.isoformat() if s.withdrawn_at else None,
                "files": files.get(s.id, []),
            }
            for s, prompt in submissions
        ],
        "prompts_created": list(prompts),
    }


async def merge_members(session: AsyncSession, old: int, new: int, clock: Clock) -> None:
    """Move a linked member's submissions and prompts to the kept member.

    Where both accounts shared the same thing, the old account's copy is retracted (its
    files trashed, its posts edited) and dropped: the kept member has it.
    """
    kept = select(UgcSubmission.content_key).where(UgcSubmission.member_id == new)
    twins = await session.scalars(
        select(UgcSubmission)
        .where(UgcSubmission.member_id == old, UgcSubmission.content_key.in_(kept))
        .with_for_update()
    )
    for twin in twins.all():
        await retract(session, clock, twin, store=None)
        await session.delete(twin)
    await session.flush()
    await reassign(session, UgcSubmission, "member_id", old, new, unique_with=("content_key",))
    await reassign(session, UgcSubmission, "decided_by", old, new)
    await reassign(session, UgcPrompt, "created_by", old, new)


async def erase_member(session: AsyncSession, member_id: int, clock: Clock) -> None:
    """Delete a member's submissions and files; forget who wrote prompts or decided.

    Each submission is retracted first (its posts edited to say so, queued ones cancelled,
    its files trashed for the ``ugc`` job to delete from the media store); then the rows,
    and with them every public surface, go.
    """
    submissions = await session.scalars(
        select(UgcSubmission)
        .where(UgcSubmission.member_id == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for submission in submissions.all():
        await retract(session, clock, submission, store=None, erasing=True)
        await session.delete(submission)
    await session.flush()
    await session.execute(
        update(UgcSubmission).where(UgcSubmission.decided_by == member_id).values(decided_by=None)
    )
    await session.execute(
        update(UgcPrompt).where(UgcPrompt.created_by == member_id).values(created_by=None)
    )


async def empty_trash(session: AsyncSession, store: MediaStore, *, batch: int = 200) -> int:
    """Delete trashed files from the media store; return how many."""
    keys = list(await session.scalars(select(UgcMediaTrash.media_key).limit(batch)))
    for key in keys:
        await store.delete(key)
    if keys:
        await session.execute(delete(UgcMediaTrash).where(UgcMediaTrash.media_key.in_(keys)))
    return len(keys)


def _of_submissions(model: Any) -> Any:
    def query(community_id: int) -> Any:
        return (
            select(model)
            .join(UgcSubmission, UgcSubmission.id == model.submission_id)
            .where(UgcSubmission.community_id == community_id)
        )

    return query


EXPORT_TABLES = (
    ExportTable(
        "ugc_prompts",
        UgcPrompt,
        (
            "id",
            "uid",
            "title",
            "brief",
            "template",
            "deadline",
            "ritual_id",
            "status",
            "created_by",
            "created_at",
            "closed_at",
        ),
    ),
    ExportTable(
        "ugc_submissions",
        UgcSubmission,
        (
            "id",
            "uid",
            "member_id",
            "prompt_id",
            "platform",
            "title",
            "story",
            "links",
            "consent",
            "status",
            "featured",
            "submitted_at",
            "decided_at",
            "decided_by",
            "reject_reason",
            "public_at",
            "withdrawn_at",
        ),
    ),
    ExportTable(
        "ugc_attachments",
        UgcAttachment,
        (
            "id",
            "submission_id",
            "position",
            "media_key",
            "filename",
            "content_type",
            "size",
            "sha256",
            "reported_url",
            "reported_type",
            "reported_size",
        ),
        _of_submissions(UgcAttachment),
    ),
)
