"""The audit log of moderator and owner actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.models import AuditEntry
from bot.services.callers import Actor


async def record_audit(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    actor_member_id: int | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    about_member_id: int | None = None,
) -> None:
    """Append an audit entry in the caller's transaction.

    ``about_member_id`` names the member the entry is about (a host added, a member
    erased), so erasing that member finds the entry by reference, never by its text.
    """
    session.add(
        AuditEntry(
            community_id=community_id,
            actor_member_id=actor_member_id,
            about_member_id=about_member_id,
            action=action,
            target=target,
            detail=detail or {},
            at=clock.now(),
        )
    )


async def audit(
    session: AsyncSession,
    clock: Clock,
    actor: Actor,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    *,
    about_member_id: int | None = None,
) -> None:
    """Record what ``actor`` did, in the caller's transaction."""
    await record_audit(
        session,
        clock,
        community_id=actor.community_id,
        actor_member_id=actor.member_id,
        action=action,
        target=target,
        detail=detail,
        about_member_id=about_member_id,
    )
