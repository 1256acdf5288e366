"""Role changes in the outbox: a blocked change retries slowly, a newer one supersedes it.

A sender raises :class:`bot.outbox.Blocked` when a role change waits on something an owner
can fix (the bot's role below the target role, a missing permission or scope, a deleted
role). The dispatcher keeps that row pending with the reason in ``last_error``, tries it
again after :func:`blocked_wait`, and publishes :func:`blocked_event` when the block is
news. Because blocked rows wait so long, an older change must never overtake a newer one
for the same member and access: :func:`superseded` finds the newer one.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import AccessBlocked
from bot.messages import RoleChange, UnreadableEffect, load
from bot.models import OutboxMessage
from bot.outbox.effects import Message
from bot.outbox.queue import ACCESS_SUBJECT

# A blocked row is tried again after as long as it has been blocked (1 min, 1, 2, 4, 8 …),
# at most every 15 min: soon after a quick fix, cheap if nobody fixes it for a week.
BLOCKED_RETRY_FIRST = timedelta(minutes=1)
BLOCKED_RETRY_MAX = timedelta(minutes=15)


def blocked_wait(blocked_for: timedelta) -> timedelta:
    """Return how long a row blocked for ``blocked_for`` waits before its next try."""
    return min(max(blocked_for, BLOCKED_RETRY_FIRST), BLOCKED_RETRY_MAX)


def blocked_event(row: OutboxMessage, message: Message, reason: str) -> AccessBlocked | None:
    """Return the ``access.blocked`` event of a blocked role change (None for other effects)."""
    if not isinstance(message, RoleChange):
        return None
    _, _, address = row.target.partition(":")  # member:<space>:<user>
    space, _, _ = address.partition(":")
    return AccessBlocked(
        community_id=row.community_id,
        outbox_key=row.key,
        member_id=message.member_id,
        access=message.access,
        grant=message.grant,
        platform=row.platform,
        space=space,
        reason=reason,
    )


async def superseded(session: AsyncSession, row: OutboxMessage, message: RoleChange) -> bool:
    """Return whether a newer change of this access for this member on this target exists.

    A grant blocked for an hour and the revoke queued meanwhile both retry; whichever
    comes up first, only the newer one may reach the platform.
    """
    newer = await session.scalars(
        select(OutboxMessage.payload).where(
            OutboxMessage.subject_kind == ACCESS_SUBJECT,
            OutboxMessage.subject_id == str(message.member_id),
            OutboxMessage.platform == row.platform,
            OutboxMessage.target == row.target,
            OutboxMessage.id > row.id,
        )
    )
    for payload in newer.all():
        try:
            later = load(payload)
        except UnreadableEffect:
            continue
        if isinstance(later, RoleChange) and later.access == message.access:
            return True
    return False
