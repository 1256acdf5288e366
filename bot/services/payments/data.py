"""Payments' part of `/privacy export`, `/privacy delete`, linking and `flywheel export`.

Orders and subscriptions are the community's books: erasing a member unlinks them from
the rows (and forgets the email Stripe gave) but keeps the rows, so totals stay right.
Stripe keeps its own records; erasure here does not reach Stripe.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.reassign import reassign
from bot.features import ExportTable
from bot.models import Order, PaidAccess, Subscription

MEMBER_TABLES = ("orders", "subscriptions", "paid_access")
ANONYMOUS_TABLES = ("stripe_events",)


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def export_member(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return a member's orders, subscriptions and paid access, with their Stripe ids."""
    orders = await session.scalars(
        select(Order).where(Order.member_id == member_id).order_by(Order.created_at, Order.id)
    )
    subscriptions = await session.scalars(
        select(Subscription)
        .where(Subscription.member_id == member_id)
        .order_by(Subscription.created_at, Subscription.id)
    )
    access = await session.scalars(
        select(PaidAccess).where(PaidAccess.member_id == member_id).order_by(PaidAccess.id)
    )
    return {
        "orders": [
            {
                "id": o.uid,
                "stripe_checkout_session": o.session_id,
                "offer": o.offer_slug,
                "mode": o.mode,
                "session_status": o.session_status,
                "payment_status": o.payment_status,
                "amount_total": o.amount_total,
                "currency": o.currency,
                "amount_refunded": o.amount_refunded,
                "dispute_status": o.dispute_status,
                "email": o.customer_email,
                "stripe_customer": o.customer_id,
                "stripe_subscription": o.subscription_id,
                "created_at": _when(o.created_at),
                "paid_at": _when(o.paid_at),
            }
            for o in orders
        ],
        "subscriptions": [
            {
                "id": s.uid,
                "stripe_subscription": s.subscription_id,
                "stripe_customer": s.customer_id,
                "offer": s.offer_slug,
                "status": s.status,
                "current_period_end": _when(s.current_period_end),
                "cancel_at_period_end": s.cancel_at_period_end,
                "canceled_at": _when(s.canceled_at),
            }
            for s in subscriptions
        ],
        "paid_access": [
            {"offer": a.offer_slug, "access": a.access, "granted": a.granted, "reason": a.reason}
            for a in access
        ],
    }


async def erase_member(session: AsyncSession, member_id: int, clock: Clock) -> None:
    """Unlink a member from orders and subscriptions (kept, anonymous) and drop their access."""
    await session.execute(
        update(Order)
        .where(Order.member_id == member_id)
        .values(member_id=None, customer_email=None, updated_at=clock.now())
    )
    await session.execute(
        update(Subscription)
        .where(Subscription.member_id == member_id)
        .values(member_id=None, updated_at=clock.now())
    )
    await session.execute(delete(PaidAccess).where(PaidAccess.member_id == member_id))


async def merge_members(session: AsyncSession, old: int, new: int, clock: Clock) -> None:
    """Move a linked member's orders, subscriptions and paid access to the kept member."""
    await reassign(session, Order, "member_id", old, new)
    await reassign(session, Subscription, "member_id", old, new)
    await reassign(session, PaidAccess, "member_id", old, new, unique_with=("offer_slug",))


EXPORT_TABLES = (
    ExportTable(
        "orders",
        Order,
        (
            "id",
            "uid",
            "session_id",
            "offer_slug",
            "member_id",
            "mode",
            "session_status",
            "payment_status",
            "amount_total",
            "currency",
            "amount_refunded",
            "dispute_status",
            "customer_id",
            "payment_intent_id",
            "charge_id",
            "subscription_id",
            "matched",
            "created_at",
            "paid_at",
            "updated_at",
        ),
    ),
    ExportTable(
        "subscriptions",
        Subscription,
        (
            "id",
            "uid",
            "subscription_id",
            "customer_id",
            "member_id",
            "offer_slug",
            "status",
            "current_period_end",
            "cancel_at_period_end",
            "canceled_at",
            "ended_at",
            "past_due_since",
            "created_at",
            "updated_at",
        ),
    ),
)
