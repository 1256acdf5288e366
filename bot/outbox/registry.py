"""The post registry: which subject a platform message is about, and where a subject's post is.

The dispatcher records every post and DM it delivers here, in the commit that marks the
row sent. Reactions, thread replies, clicks and edits look their subject up here, never in
the outbox, so sent outbox rows can be pruned (:func:`prune_sent`) and nothing breaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, exists, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.messages import Subject
from bot.models import OutboxMessage, PostRecord
from bot.outbox.effects import Effect, Posted

# Rows not yet handed to a sender: cancelling these keeps them from going out.
NOT_STARTED = ("pending", "claimed")
WAITING = ("pending", "claimed", "sending")


async def record(
    session: AsyncSession,
    clock: Clock,
    *,
    effect: Effect,
    delivered: Posted,
    community_id: int | None,
    subject: Subject | None,
    member_id: int | None,
    claim_token: str | None = None,
) -> None:
    """Remember where an effect's message went (once per outbox key).

    With ``claim_token`` (the dispatcher's), the entry is written only while the outbox row
    is still held under it: a row an erasure deleted mid-send leaves no entry behind.
    """
    values = {
        "community_id": community_id,
        "outbox_key": effect.key,
        "subject_kind": subject.kind if subject else None,
        "subject_id": subject.id if subject else None,
        "platform": effect.platform,
        "channel_id": delivered.channel_id,
        "message_id": delivered.message_id,
        "thread_id": delivered.thread_id,
        "member_id": member_id,
        "sent_at": clock.now(),
    }
    insert = dialect_insert(session, PostRecord)
    if claim_token is None:
        statement = insert.values(**values)
    else:
        held = select(
            *(literal(value, PostRecord.__table__.c[name].type) for name, value in values.items())
        ).where(
            exists().where(OutboxMessage.id == effect.id, OutboxMessage.claim_token == claim_token)
        )
        statement = insert.from_select(list(values), held)
    await session.execute(statement.on_conflict_do_nothing(index_elements=["outbox_key"]))


async def subject_of(
    session: AsyncSession, *, platform: str, message_id: str, kind: str | None = None
) -> Subject | None:
    """Return what a platform message (or the thread it opened) is about."""
    query = select(PostRecord.subject_kind, PostRecord.subject_id).where(
        PostRecord.platform == platform,
        or_(PostRecord.message_id == message_id, PostRecord.thread_id == message_id),
        PostRecord.subject_kind.is_not(None),
    )
    if kind is not None:
        query = query.where(PostRecord.subject_kind == kind)
    found = (await session.execute(query.order_by(PostRecord.id).limit(1))).first()
    if found is None or found[0] is None or found[1] is None:
        return None
    return Subject(kind=found[0], id=found[1])


async def post_about(session: AsyncSession, subject: Subject, platform: str) -> Posted | None:
    """Return the first message about ``subject`` on ``platform`` (the one threads hang off)."""
    found = (
        await session.execute(
            select(PostRecord.channel_id, PostRecord.message_id, PostRecord.thread_id)
            .where(
                PostRecord.subject_kind == subject.kind,
                PostRecord.subject_id == subject.id,
                PostRecord.platform == platform,
                PostRecord.member_id.is_(None),
            )
            .order_by(PostRecord.id)
            .limit(1)
        )
    ).first()
    return Posted(found[0], found[1], found[2]) if found else None


async def waiting_about(session: AsyncSession, subject: Subject, platform: str) -> bool:
    """Return whether a post about ``subject`` on ``platform`` is still to be sent."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    OutboxMessage.subject_kind == subject.kind,
                    OutboxMessage.subject_id == subject.id,
                    OutboxMessage.platform == platform,
                    OutboxMessage.action == "post",
                    OutboxMessage.status.in_(WAITING),
                )
            )
        )
    )


async def was_posted(session: AsyncSession, subject: Subject) -> bool:
    """Return whether anything about ``subject`` was delivered, or is still to be sent."""
    delivered = exists().where(
        PostRecord.subject_kind == subject.kind, PostRecord.subject_id == subject.id
    )
    queued = exists().where(
        OutboxMessage.subject_kind == subject.kind,
        OutboxMessage.subject_id == subject.id,
        OutboxMessage.status.in_(WAITING),
    )
    return bool(await session.scalar(select(or_(delivered, queued))))


async def cancel_about(session: AsyncSession, subjects: Iterable[Subject]) -> int:
    """Delete what is queued about these subjects and not yet being sent; return how many."""
    pairs = [(subject.kind, subject.id) for subject in subjects]
    if not pairs:
        return 0
    result = await session.execute(
        delete(OutboxMessage).where(
            tuple_(OutboxMessage.subject_kind, OutboxMessage.subject_id).in_(pairs),
            OutboxMessage.status.in_(NOT_STARTED),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def prune_sent(session: AsyncSession, clock: Clock, *, retention: timedelta) -> int:
    """Delete sent outbox rows older than the retention; return how many."""
    result = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status == "sent", OutboxMessage.sent_at < clock.now() - retention
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
