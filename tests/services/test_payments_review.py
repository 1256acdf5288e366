"""Payments seen by an adversary: defects found in review, each held by a test.

Through the bot's real web app, with the Stripe sandbox delivering signed webhooks.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bot.models import Member, Order, PaidAccess, StripeEvent, Subscription
from tests.services.payments_webhook_kit import SECRET, Shop, shop

__all__ = ["shop"]  # the fixture, used by name

pytestmark = [
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


async def test_a_purchase_made_for_another_community_on_the_same_stripe_account_is_not_applied(
    shop: Shop,
) -> None:
    # Ada is a member here and her Stripe customer is known; she buys in another community
    # that sells through the same Stripe account (each endpoint hears every event).
    member_id, _ = await shop.member("ada")
    customer = await shop.client.v1.customers.create_async({"email": "ada@example.org"})
    async with shop.runtime.sessions() as session, session.begin():
        await session.execute(
            update(Member).where(Member.id == member_id).values(stripe_customer_id=customer.id)
        )
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    elsewhere = {"flywheel_offer": "guide", "flywheel_community": "elsewhere"}
    one_off = await shop.checkout("guide", None, customer=customer.id, metadata=elsewhere)
    monthly = await shop.checkout(
        "supporters",
        None,
        customer=customer.id,
        metadata={**elsewhere, "flywheel_offer": "supporters"},
        subscription_data={"metadata": {**elsewhere, "flywheel_offer": "supporters"}},
    )

    shop.sandbox.complete_session(one_off.id)
    shop.sandbox.complete_session(monthly.id)
    await shop.settle()

    assert shop.sandbox.deliveries and all(d.delivered for d in shop.sandbox.deliveries)
    assert await shop.count(StripeEvent) == len({d.event_id for d in shop.sandbox.deliveries})
    assert await shop.count(Order) == 0
    assert await shop.count(PaidAccess) == 0
    async with shop.runtime.sessions() as session:
        named = await session.scalar(select(Subscription.member_id))
    assert named is None  # the invoice names no community of ours either
