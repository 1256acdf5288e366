"""The grace job: access whose basis ran out by time alone, with no event to say so.

A failed renewal makes a subscription ``past_due``; the offer's ``grace_days`` keep the
access for a while, and nothing arrives from Stripe when that period ends. Every minute
this job finds members still ``granted`` an offer none of whose subscriptions pays any
more (one is past due beyond the grace period, none is active, trialing or within its
grace) and runs :func:`~bot.services.payments.access.refresh` for them, a few members per
transaction. The same rule decides in ``entitlements``, so a member the job picks is
revoked by the refresh and is not picked again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.features import FeatureContext
from bot.models import PaidAccess, Subscription
from bot.offers import OfferSettings
from bot.services.payments.access import PAYING, refresh

GRACE_EVERY_SECONDS = 60.0
BATCH = 20  # members refreshed per transaction: short write locks, bounded work


def _lapsed(slug: str, offer: OfferSettings, now: datetime) -> ColumnElement[bool]:
    """Return the condition: a granted row of this offer none of whose subscriptions pays."""
    cutoff = now - timedelta(days=offer.grace_days)
    started = func.coalesce(Subscription.past_due_since, Subscription.version)
    same = and_(
        Subscription.member_id == PaidAccess.member_id,
        Subscription.offer_slug == slug,
    )
    overdue = exists().where(same, Subscription.status == "past_due", started <= cutoff)
    paying = exists().where(
        same,
        or_(
            Subscription.status.in_(PAYING),
            and_(Subscription.status == "past_due", started > cutoff),
        ),
    )
    return and_(PaidAccess.offer_slug == slug, overdue, ~paying)


async def lapsed_members(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    *,
    after: int = 0,
    limit: int = BATCH,
) -> list[tuple[int, int, int]]:
    """Return (paid_access id, community id, member id) of granted access that lapsed."""
    now = clock.now()
    conditions = [
        _lapsed(slug, offer, now)
        for slug, offer in sorted(offers.items())
        if offer.access and offer.mode == "subscription"
    ]
    if not conditions:
        return []
    rows = await session.execute(
        select(PaidAccess.id, PaidAccess.community_id, PaidAccess.member_id)
        .where(PaidAccess.granted.is_(True), PaidAccess.id > after, or_(*conditions))
        .order_by(PaidAccess.id)
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def recheck_lapsed(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    offers: dict[str, OfferSettings],
    *,
    batch: int = BATCH,
) -> int:
    """Refresh every member whose granted access lapsed, ``batch`` members per transaction;
    return how many decisions changed."""
    changed = 0
    after = 0
    while True:
        async with sessions() as session, session.begin():
            found = await lapsed_members(session, clock, offers, after=after, limit=batch)
            for _, community_id, member_id in found:
                changed += len(
                    await refresh(
                        session, clock, offers, community_id=community_id, member_id=member_id
                    )
                )
        if len(found) < batch:
            return changed
        after = found[-1][0]


async def grace_job(context: FeatureContext) -> int:
    """The payments feature's job: revoke access whose grace period ended."""
    return await recheck_lapsed(context.sessions, context.clock, context.settings.offers)
