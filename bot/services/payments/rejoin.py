"""Paid access follows the person: back on rejoining, and onto an account linked to theirs.

Leaving takes the role away on the platform (Discord drops a member's roles; a Slack
private channel keeps nobody who left), while ``paid_access`` still says granted. On
``member.joined`` the decision is brought up to date first (a grace period may have ended
meanwhile), then each access still granted is queued again, keyed by the join, so a
repeated delivery of the same join queues nothing and a later rejoin queues its own.

Linking two accounts (``members.linked``) does the same for the kept member: the purchase
made on one platform now gives the access on the other too (a grant already held there is
queued again, which changes nothing), and the decisions are refreshed because the kept
member now holds both accounts' orders and subscriptions.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import MemberJoined, MembersLinked
from bot.features import FeatureContext
from bot.messages import RoleChange
from bot.models import PaidAccess
from bot.outbox import send
from bot.services.payments.access import refresh


async def _grant_again(
    context: FeatureContext,
    session: AsyncSession,
    community_id: int,
    member_id: int,
    *,
    why: str,
    said: str,
) -> None:
    """Refresh a member's paid access, then queue each granted access again, keyed by ``why``
    (``said`` ends the role change's reason)."""
    settings, clock = context.settings, context.clock
    await refresh(session, clock, settings.offers, community_id=community_id, member_id=member_id)
    granted = await session.scalars(
        select(PaidAccess).where(PaidAccess.member_id == member_id, PaidAccess.granted.is_(True))
    )
    for row in granted:
        await send(
            session,
            clock,
            RoleChange(
                member_id=row.member_id,
                access=row.access,
                grant=True,
                reason=f"Flywheel paid access: {row.offer_slug} ({said})"[:400],
            ),
            # The change number keeps /access why's "latest change" reading this grant.
            key=f"paid-access:{row.uid}:{row.changes}:{why}",
            community_id=row.community_id,
        )


async def restore_on_join(
    context: FeatureContext, session: AsyncSession, event: MemberJoined
) -> None:
    """Queue the grants of a rejoining member's paid access (after refreshing the decisions)."""
    await _grant_again(
        context,
        session,
        event.community_id,
        event.member_id,
        why=f"rejoin-{event.join_uid or event.user_id}",
        said="rejoined",
    )


async def extend_on_link(
    context: FeatureContext, session: AsyncSession, event: MembersLinked
) -> None:
    """Give the kept member's paid access on every account now linked to them."""
    await _grant_again(
        context,
        session,
        event.community_id,
        event.kept_member_id,
        why=f"linked-{event.merged_member_id}",
        said="accounts linked",
    )
