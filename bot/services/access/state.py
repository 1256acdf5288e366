"""A member's access as the outbox knows it: what was last wanted, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import RoleChange, UnreadableEffect, load
from bot.models import OutboxMessage
from bot.outbox.queue import access_subject


class Outcome(StrEnum):
    """What became of the latest change of one access key on one platform."""

    APPLIED = "applied"  # the platform accepted it
    PENDING = "pending"  # queued, or retrying after a passing fault
    BLOCKED = "blocked"  # waiting on something an owner can fix; retried until it goes through
    FAILED = "failed"  # refused for good (the member left, say)


@dataclass(frozen=True)
class AccessState:
    """The latest wanted state of one access key for a member on one guild or workspace."""

    access: str
    platform: str
    space: str
    grant: bool
    outcome: Outcome
    reason: str | None  # why it is blocked, failed, or being retried
    since: datetime  # applied at, blocked since, or queued at
    outbox_key: str


def _outcome(row: OutboxMessage) -> tuple[Outcome, datetime]:
    if row.status == "sent":
        return Outcome.APPLIED, row.sent_at or row.created_at
    if row.status == "dead":
        return Outcome.FAILED, row.created_at
    if row.blocked_at is not None:
        return Outcome.BLOCKED, row.blocked_at
    return Outcome.PENDING, row.created_at


async def access_state(session: AsyncSession, member_id: int) -> list[AccessState]:
    """Return, per access key, platform and space, the latest change wanted and its outcome.

    Read from the member's role-change rows in the outbox (through its subject index).
    Applied changes are pruned with the other sent rows after ``[outbox] retention_days``,
    so an access applied longer ago than that is no longer listed.
    """
    subject = access_subject(member_id)
    rows = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.subject_kind == subject.kind,
            OutboxMessage.subject_id == subject.id,
            OutboxMessage.action == "role",
        )
        .order_by(OutboxMessage.id)
    )
    latest: dict[tuple[str, str, str], tuple[OutboxMessage, RoleChange]] = {}
    for row in rows.all():
        try:
            message = load(row.payload)
        except UnreadableEffect:
            continue
        if not isinstance(message, RoleChange):
            continue
        space = row.target.split(":")[1] if row.target.count(":") >= 2 else ""
        latest[(message.access, row.platform, space)] = (row, message)
    states = []
    for (access, platform, space), (row, message) in sorted(latest.items()):
        outcome, since = _outcome(row)
        states.append(
            AccessState(
                access=access,
                platform=platform,
                space=space,
                grant=message.grant,
                outcome=outcome,
                reason=row.last_error if outcome is not Outcome.APPLIED else None,
                since=since,
                outbox_key=row.key,
            )
        )
    return states
