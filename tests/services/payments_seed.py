"""Orders, subscriptions and members for payments' service tests, inserted directly (the
webhook that writes them in production is tested on its own)."""

from __future__ import annotations

from datetime import datetime
from itertools import count

from sqlalchemy import select

from bot.models import Order, OutboxMessage, Subscription
from bot.offers import OfferSettings
from bot.services.callers import Actor, Caller, Role, resolve_actor

_ids = count(1)

OFFERS = {
    "pro": OfferSettings(name="Pro", price="price_pro", mode="payment", access="paid"),
    "club": OfferSettings(
        name="Club", price="price_club", mode="subscription", access="paid", grace_days=3
    ),
    "ebook": OfferSettings(name="E-book", price="price_ebook", mode="payment"),
}


async def member(
    session, clock, community_id: int, user: str, role: Role = Role.MEMBER, platform="discord"
) -> Actor:
    space = "111" if platform == "discord" else "T0001"
    caller = Caller(platform, space, user, user.title(), role, "c1")
    return await resolve_actor(session, clock, community_id=community_id, caller=caller)


async def order(
    session,
    clock,
    community_id: int,
    member_id: int | None,
    offer: str | None = "pro",
    *,
    paid: bool = True,
    amount: int = 1200,
    email: str | None = None,
    subscription_id: str | None = None,
    customer_id: str | None = None,
    created: datetime | None = None,
    **values,
) -> Order:
    n = next(_ids)
    now = created or clock.now()
    fields = {
        "session_status": "complete" if paid else "open",
        "payment_status": "paid" if paid else "unpaid",
        **values,
    }
    row = Order(
        community_id=community_id,
        session_id=f"cs_test_{n}",
        offer_slug=offer,
        member_id=member_id,
        mode="subscription" if subscription_id else "payment",
        amount_total=amount,
        currency="eur",
        customer_id=customer_id,
        customer_email=email,
        subscription_id=subscription_id,
        matched=member_id is not None and offer is not None,
        created_at=now,
        paid_at=now if paid else None,
        updated_at=now,
        **fields,
    )
    session.add(row)
    await session.flush()
    return row


async def subscription(
    session,
    clock,
    community_id: int,
    member_id: int | None,
    status: str = "active",
    offer: str | None = "club",
    *,
    subscription_id: str | None = None,
    past_due_since: datetime | None = None,
) -> Subscription:
    n = next(_ids)
    row = Subscription(
        community_id=community_id,
        subscription_id=subscription_id or f"sub_test_{n}",
        customer_id=f"cus_test_{n}",
        member_id=member_id,
        offer_slug=offer,
        status=status,
        current_period_end=clock.now(),
        past_due_since=past_due_since,
        version=clock.now(),
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


async def role_rows(session, prefix: str = "paid-access:") -> list[OutboxMessage]:
    return list(
        await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.like(f"{prefix}%"), OutboxMessage.action == "role")
            .order_by(OutboxMessage.id)
        )
    )
