"""Paid access: what a member's orders and subscriptions entitle them to, kept in step.

``refresh`` is called in the transaction that changed a member's orders or subscriptions
(a webhook, reconcile, linking a purchase, the grace-period job). It works out, for each
offer that grants access, whether the member is entitled now, and when that differs from
``paid_access`` it records the new decision with its reason and queues one ``RoleChange``
through the outbox (keyed by the row's uid and change count, so a repeat queues nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.ids import new_uid
from bot.messages import RoleChange
from bot.models import Order, PaidAccess, Subscription
from bot.offers import OfferSettings
from bot.outbox import send

# Stripe subscription statuses that pay for access (past_due only within the grace period).
PAYING = frozenset({"active", "trialing"})
REVERSED_DISPUTES = frozenset({"lost"})


@dataclass(frozen=True)
class Entitlement:
    """Whether a member should hold an offer's access now, and why, in an owner's words."""

    offer_slug: str
    access: str
    entitled: bool
    reason: str


@dataclass(frozen=True)
class AccessChange:
    """A decision that changed (and the RoleChange queued for it)."""

    offer_slug: str
    access: str
    granted: bool
    reason: str


def order_reversed(order: Order) -> str | None:
    """Return why a paid order no longer pays for anything, or None while it does."""
    if order.dispute_status in REVERSED_DISPUTES:
        return f"order {order.session_id}: the dispute was lost"
    if order.amount_total is not None and order.amount_refunded >= order.amount_total > 0:
        return f"order {order.session_id}: refunded in full"
    return None


def _subscription_reason(
    sub: Subscription, offer: OfferSettings, now: datetime
) -> tuple[bool, str]:
    """Return whether a subscription pays for access now, and the sentence saying so."""
    if sub.status in PAYING:
        return True, f"subscription {sub.subscription_id} is {sub.status}"
    if sub.status == "past_due":
        since = sub.past_due_since or sub.version
        until = since + timedelta(days=offer.grace_days)
        if now < until:
            return True, (
                f"subscription {sub.subscription_id} is past due; access kept until "
                f"{until:%Y-%m-%d %H:%M} UTC (grace period of {offer.grace_days} days)"
            )
        return False, (
            f"subscription {sub.subscription_id} is past due beyond the grace period of "
            f"{offer.grace_days} days"
        )
    return False, f"subscription {sub.subscription_id} is {sub.status}"


async def entitlements(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    member_id: int,
) -> list[Entitlement]:
    """Return, for each offer granting access, whether the member is entitled to it now."""
    granting = {slug: offer for slug, offer in offers.items() if offer.access}
    if not granting:
        return []
    now = clock.now()
    orders = list(
        await session.scalars(
            select(Order)
            .where(Order.member_id == member_id, Order.offer_slug.in_(granting))
            .order_by(Order.created_at.desc(), Order.id.desc())
        )
    )
    recurring = [slug for slug, offer in granting.items() if offer.mode == "subscription"]
    subscriptions = (
        list(
            await session.scalars(
                select(Subscription)
                .where(Subscription.member_id == member_id, Subscription.offer_slug.in_(recurring))
                .order_by(Subscription.version.desc(), Subscription.id.desc())
            )
        )
        if recurring  # a community selling only one-time offers has no subscriptions to read
        else []
    )
    found: list[Entitlement] = []
    for slug, offer in granting.items():
        assert offer.access is not None
        reasons: list[tuple[bool, str]] = []
        if offer.mode == "subscription":
            reversed_subs = {
                o.subscription_id for o in orders if o.offer_slug == slug and order_reversed(o)
            }
            for sub in (s for s in subscriptions if s.offer_slug == slug):
                paying, why = _subscription_reason(sub, offer, now)
                if paying and sub.subscription_id in reversed_subs:
                    paying, why = False, f"{why}, but its first payment was taken back"
                reasons.append((paying, why))
        else:
            for order in (o for o in orders if o.offer_slug == slug):
                if order.payment_status != "paid":
                    reasons.append((False, f"order {order.session_id} is {order.payment_status}"))
                    continue
                reversed_why = order_reversed(order)
                reasons.append(
                    (reversed_why is None, reversed_why or f"order {order.session_id} is paid")
                )
        entitled = any(paying for paying, _ in reasons)
        # The newest reason that agrees with the decision is the one an owner needs to read.
        chosen = next((why for paying, why in reasons if paying == entitled), None)
        found.append(
            Entitlement(slug, offer.access, entitled, (chosen or "no purchase of this offer")[:300])
        )
    return found


async def refresh(
    session: AsyncSession,
    clock: Clock,
    offers: dict[str, OfferSettings],
    *,
    community_id: int,
    member_id: int,
) -> list[AccessChange]:
    """Bring a member's paid access in line with their orders and subscriptions."""
    changes: list[AccessChange] = []
    wanted = await entitlements(session, clock, offers, member_id)
    if not wanted:
        return changes
    rows = {
        row.offer_slug: row
        for row in await session.scalars(
            select(PaidAccess).where(PaidAccess.member_id == member_id).with_for_update()
        )
    }
    for item in wanted:
        row = rows.get(item.offer_slug)
        if row is None:
            if not item.entitled:
                continue  # never granted: nothing to take back
            # Every column given here (uid, changes): no flush needed before it is used, so
            # the row is written once, with its decision, when the transaction next flushes.
            row = PaidAccess(
                uid=new_uid(),
                community_id=community_id,
                member_id=member_id,
                offer_slug=item.offer_slug,
                access=item.access,
                granted=False,
                changes=0,
                changed_at=clock.now(),
            )
            session.add(row)
        row.reason = item.reason
        if row.granted == item.entitled and row.access == item.access:
            continue
        if row.granted and row.access != item.access and item.entitled:
            # The offer now grants another access key: take the old one back first.
            await _queue(session, clock, row, grant=False)
        row.granted, row.access = item.entitled, item.access
        row.changed_at = clock.now()
        await _queue(session, clock, row, grant=item.entitled)
        changes.append(AccessChange(item.offer_slug, item.access, item.entitled, item.reason))
    return changes


async def _queue(session: AsyncSession, clock: Clock, row: PaidAccess, *, grant: bool) -> None:
    row.changes += 1
    await send(
        session,
        clock,
        RoleChange(
            member_id=row.member_id,
            access=row.access,
            grant=grant,
            reason=f"Flywheel paid access: {row.offer_slug}"[:400],
        ),
        key=f"paid-access:{row.uid}:{row.changes}",
        community_id=row.community_id,
    )
