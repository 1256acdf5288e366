"""Reading queued effects in tests: the neutral message of a row, rendered as a platform shows it."""

from __future__ import annotations

from sqlalchemy import select

from bot.discord.render import markdown
from bot.messages import load
from bot.models import OutboxMessage, RitualOccurrence
from bot.outbox import Effect, Posted, registry
from bot.outbox.effects import Message
from bot.slack.render import mrkdwn


def message_of(row: OutboxMessage) -> Message:
    """Return the effect a row holds."""
    return load(row.payload)


def text_of(row: OutboxMessage) -> str:
    """Return the row's body as the member sees it on the row's platform."""
    message = message_of(row)
    body = getattr(message, "body", None)
    assert body is not None, f"{row.key} has no body"
    if row.platform == "discord":
        return markdown(body)[0]
    return mrkdwn(body)


async def pretend_sent(session, clock, rows, *, threads: bool = True) -> None:
    """Mark rows sent as the dispatcher would, recording each post in the registry."""
    for row in rows:
        message = message_of(row)
        delivered = Posted(
            row.target.split(":", 1)[1], f"m{row.id}", f"m{row.id}" if threads else None
        )
        row.status, row.external_id, row.sent_at = "sent", delivered.message_id, clock.now()
        effect = Effect(row.id, row.key, row.platform, row.action, row.target, message, 0)
        await registry.record(
            session,
            clock,
            effect=effect,
            delivered=delivered,
            community_id=row.community_id,
            subject=getattr(message, "about", None),
            member_id=getattr(message, "member_id", None),
        )
    await session.flush()


async def occurrence_uid(session, occurrence_id: int) -> str:
    """Return the public id of an occurrence."""
    uid = await session.scalar(
        select(RitualOccurrence.uid).where(RitualOccurrence.id == occurrence_id)
    )
    assert uid is not None
    return uid


async def enqueue_row(
    session,
    clock,
    *,
    key: str,
    platform: str,
    action: str,
    target: str,
    text: str = "",
    community_id: int | None = None,
    buttons=(),
    files=(),
) -> bool:
    """Queue one already-addressed row (what sender and dispatcher tests start from)."""
    from bot.messages import Button, DirectMessage, File, Post, Purpose, rich
    from bot.outbox import Queued, enqueue_many

    body = rich(text)
    buttons = tuple(Button(**b) if isinstance(b, dict) else b for b in buttons)
    files = tuple(File(**f) if isinstance(f, dict) else f for f in files)
    message = (
        DirectMessage(member_id=0, body=body, buttons=buttons, files=files)
        if action == "dm"
        else Post(to=Purpose(name="rituals"), body=body, buttons=buttons)
    )
    row = Queued(key, platform, action, target, message, community_id=community_id)
    return await enqueue_many(session, clock, [row]) == 1


async def prune_sent_rows(runtime) -> int:
    """Delete every sent outbox row, as the retention job does once they are old enough."""
    from datetime import timedelta

    from sqlalchemy import func

    from bot.models import PostRecord

    runtime.clock.advance(1)
    async with runtime.sessions() as session, session.begin():
        pruned = await registry.prune_sent(session, runtime.clock, retention=timedelta(0))
        left = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
        )
        posts = await session.scalar(select(func.count()).select_from(PostRecord))
    assert pruned > 0 and left == 0 and posts > 0
    return pruned
