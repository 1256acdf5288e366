"""Payments seen by an adversary: defects found in review, each held by a test.

Through the bot's real web app, with the Stripe sandbox delivering signed webhooks.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from bot.models import Member, Order, OutboxMessage, PaidAccess, StripeEvent, Subscription
from bot.offers import OfferSettings
from bot.payments.signature import sign
from bot.services import payments
from bot.services.payments.claims import claim_button_id
from tests.services.payments_webhook_kit import SECRET, Shop, shop
from tests.services.test_ugc import actor

__all__ = ["shop"]  # the fixture, used by name

pytestmark = [
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


def offers_of(shop: Shop) -> dict[str, OfferSettings]:
    return shop.runtime.settings.offers


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


async def _customer_of(shop: Shop, member_id: int) -> str | None:
    async with shop.runtime.sessions() as session:
        found: str | None = await session.scalar(
            select(Member.stripe_customer_id).where(Member.id == member_id)
        )
        return found


async def test_a_client_reference_id_alone_names_nobody_since_a_payment_link_takes_it_from_the_url(
    shop: Shop,
) -> None:
    # A Stripe Payment Link (or pricing table) copies ?client_reference_id= from its URL into
    # the session: any buyer can put another member's public id there. Only the metadata our
    # checkout writes names a member.
    victim_id, victim_uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    bought = await shop.client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "line_items": [{"price": shop.prices["supporters"], "quantity": 1}],
            "success_url": "https://acme.example/thanks",
            "client_reference_id": victim_uid,
        }
    )

    shop.sandbox.complete_session(bought.id, email="mallory@example.org")
    await shop.settle()

    async with shop.runtime.sessions() as session:
        order = await session.scalar(select(Order))
        subscription = await session.scalar(select(Subscription))
    assert order is not None and order.payment_status == "paid"
    assert (order.member_id, order.matched) == (None, False)  # kept, shown as unmatched
    assert subscription is not None and subscription.member_id is None
    assert await _customer_of(shop, victim_id) is None  # not handed the buyer's customer
    assert await shop.count(PaidAccess) == 0


async def test_a_purchase_claimed_by_email_never_hands_the_claimer_the_buyers_stripe_customer(
    shop: Shop,
) -> None:
    # Anyone who knows a buyer's email can claim their purchase (the issue leaves emailing a
    # code out); what they must not get is the buyer's Stripe customer: its billing portal
    # shows and changes the buyer's cards, address and subscriptions.
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    bought = await shop.checkout("supporters", None)
    shop.sandbox.complete_session(bought.id, email="ada@example.org")
    await shop.settle()
    claimer_id, _ = await shop.member("mallory")
    async with shop.runtime.sessions() as session, session.begin():
        mallory = await actor(session, shop.clock, shop.runtime.community_id, "mallory")
        await payments.claim_purchase(
            session, shop.clock, offers_of(shop), mallory, "ada@example.org"
        )
        order_uid = await session.scalar(select(Order.uid))
        assert order_uid is not None
        await payments.confirm_claim(
            session,
            shop.clock,
            offers_of(shop),
            community_id=shop.runtime.community_id,
            member_id=claimer_id,
            button_id=claim_button_id(order_uid),
        )
    # The session comes in again under an event id not seen before (as reconcile reads it).
    snapshot = shop.sandbox.get("checkout.session", bought.id)
    body = json.dumps(
        {
            "id": "evt_session_again",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(shop.clock.now().timestamp()),
            "data": {"object": snapshot},
        }
    ).encode()
    now = int(shop.clock.now().timestamp())
    answer = await shop.post(body, {"Stripe-Signature": sign(body, SECRET, now)})

    assert answer == (200, "processed\n")
    assert await _customer_of(shop, claimer_id) is None
    async with shop.runtime.sessions() as session:
        mallory = await actor(session, shop.clock, shop.runtime.community_id, "mallory")
        assert await payments.billing_customer(session, mallory) is None
        granted = await session.scalar(select(PaidAccess.granted))
    assert granted is True  # the claim itself still links the purchase and its access


async def test_a_purchase_opened_here_is_applied_even_after_the_community_slug_was_renamed(
    shop: Shop,
) -> None:
    # The checkout wrote the slug of its day into the metadata; bot.toml's slug changed since.
    # What is known here (the open order our checkout recorded, its subscription) stays ours,
    # so its cancellation still takes the access back.
    member_id, uid = await shop.member("ada")
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    renamed = {
        "flywheel_offer": "supporters",
        "flywheel_member": uid,
        "flywheel_community": "acme-old",
    }
    bought = await shop.checkout(
        "supporters", uid, metadata=renamed, subscription_data={"metadata": renamed}
    )
    async with shop.runtime.sessions() as session, session.begin():
        now = shop.clock.now()
        session.add(
            Order(
                uid="openorder0000001",
                community_id=shop.runtime.community_id,
                session_id=bought.id,
                offer_slug="supporters",
                member_id=member_id,
                mode="subscription",
                session_status="open",
                payment_status="unpaid",
                client_reference_id=uid,
                matched=True,
                created_at=now,
                updated_at=now,
            )
        )
    shop.sandbox.complete_session(bought.id)
    await shop.settle()
    paid = await shop.state(member_id, shop.clock.now())

    shop.sandbox.cancel_subscription(
        shop.sandbox.get("checkout.session", bought.id)["subscription"]
    )
    await shop.settle()

    state = await shop.state(member_id, shop.clock.now())
    assert paid["access"] == [("supporters", "supporters", True)]
    assert [s[:2] for s in state["subscriptions"]] == [("supporters", "canceled")]
    assert state["access"] == [("supporters", "supporters", False)]
    assert state["roles"] == [True, False]


async def test_a_purchase_whose_email_has_capital_letters_beyond_ascii_can_be_claimed(
    shop: Shop,
) -> None:
    # SQL lower() leaves Å as it is on SQLite (and PostgreSQL under the C locale).
    shop.sandbox.add_webhook_endpoint(shop.url, secret=SECRET)
    bought = await shop.checkout("guide", None)
    shop.sandbox.complete_session(bought.id, email="ÅSA.Buyer@Example.org")
    await shop.settle()

    async with shop.runtime.sessions() as session, session.begin():
        asa = await actor(session, shop.clock, shop.runtime.community_id, "asa")
        await payments.claim_purchase(
            session, shop.clock, offers_of(shop), asa, "åsa.buyer@example.org"
        )
        offered = (
            await session.scalars(
                select(OutboxMessage.key).where(OutboxMessage.key.like("purchase-claim:%"))
            )
        ).all()
    assert len(offered) == 1
