"""The audit log of moderator and owner actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.models import AuditEntry


async def record_audit(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    actor_member_id: int | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an audit entry in the caller's transaction."""
    session.add(
        AuditEntry(
            community_id=community_id,
            actor_member_id=actor_member_id,
            action=action,
            target=target,
            detail=detail or {},
            at=clock.now(),
        )
    )
