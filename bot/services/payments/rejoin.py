"""A paying member who leaves and comes back gets their paid access again on joining.

Leaving takes the role away on the platform (Discord drops a member's roles; a Slack
private channel keeps nobody who left), while ``paid_access`` still says granted. On
``member.joined`` the decision is brought up to date first (a grace period may have ended
meanwhile), then each access still granted is queued again, keyed by the join, so a
repeated delivery of the same join queues nothing and a later rejoin queues its own.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import MemberJoined
from bot.features import FeatureContext
from bot.messages import RoleChange
from bot.models import PaidAccess
from bot.outbox import send
from bot.services.payments.access import refresh


async def restore_on_join(
    context: FeatureContext, session: AsyncSession, event: MemberJoined
) -> None:
    """Queue the grants of a rejoining member's paid access (after refreshing the decisions)."""
    settings, clock = context.settings, context.clock
    await refresh(
        session, clock, settings.offers, community_id=event.community_id, member_id=event.member_id
    )
    granted = await session.scalars(
        select(PaidAccess).where(
            PaidAccess.member_id == event.member_id, PaidAccess.granted.is_(True)
        )
    )
    for row in granted:
        await send(
            session,
            clock,
            RoleChange(
                member_id=row.member_id,
                access=row.access,
                grant=True,
                reason=f"Flywheel paid access: {row.offer_slug} (rejoined)"[:400],
            ),
            # The change number keeps /access why's "latest change" reading this grant.
            key=f"paid-access:{row.uid}:{row.changes}:rejoin-{event.join_uid or event.user_id}",
            community_id=row.community_id,
        )
