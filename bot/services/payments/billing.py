"""Billing for members (`/billing`: Stripe's billing portal) and offers for owners (`/offer`).

The portal is Stripe's own page where a paying member updates their card or cancels; a
cancel comes back as webhooks like any other change. Owners read each offer as bot.toml
states it, with what was sold: paid orders, live subscriptions, and paid orders no member
could be matched to (the ones to look at).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import FlywheelError
from bot.models import Member, Order, Subscription
from bot.offers import OfferSettings
from bot.payments import StripeGateway
from bot.services.callers import Actor, Role, require
from bot.services.payments.offers import OfferView, find_offer, list_offers

NO_PURCHASE = (
    "I found no purchase of yours, so there is no billing page to open. If you paid with "
    "another email, claim the purchase with {link_purchase} and try again."
)
# Subscriptions that still give (or may soon give back) access: counted as live.
LIVE_SUBSCRIPTIONS = ("active", "trialing", "past_due")
NO_STRIPE = (
    "Payments aren't set up yet: an owner must set STRIPE_API_KEY in the bot's environment "
    "and restart it."
)


@dataclass(frozen=True)
class OfferFigures:
    """One offer and what it sold."""

    offer: OfferView
    settings: OfferSettings
    paid_orders: int
    live_subscriptions: int
    unmatched_paid: int


@dataclass(frozen=True)
class OfferOverview:
    """Every offer asked for, plus paid orders that name no offer Flywheel knows."""

    offers: list[OfferFigures]
    unknown_offer_paid: int


@dataclass(frozen=True)
class PortalLink:
    """A billing-portal session for the member's Stripe customer."""

    url: str


class PaymentsUnavailable(FlywheelError):
    """STRIPE_API_KEY is not set: nothing can be asked of Stripe."""


async def _by_offer(
    session: AsyncSession, statement: Select[str | None, int]
) -> dict[str | None, int]:
    """Return a (offer slug, count) query's answer as a dict."""
    return {slug: count for slug, count in (await session.execute(statement)).all()}


async def offer_overview(
    session: AsyncSession,
    actor: Actor,
    offers: dict[str, OfferSettings],
    offer: str | None = None,
) -> OfferOverview:
    """Return each offer (or the one named) with its counts; owners only."""
    require(actor, Role.OWNER)
    views = [find_offer(offers, offer)] if offer else list_offers(offers)
    community = actor.community_id
    paid = Order.payment_status == "paid"
    orders = await _by_offer(
        session,
        select(Order.offer_slug, func.count())
        .where(Order.community_id == community, paid)
        .group_by(Order.offer_slug),
    )
    unmatched = await _by_offer(
        session,
        select(Order.offer_slug, func.count())
        .where(Order.community_id == community, paid, Order.matched.is_(False))
        .group_by(Order.offer_slug),
    )
    live = await _by_offer(
        session,
        select(Subscription.offer_slug, func.count())
        .where(
            Subscription.community_id == community,
            Subscription.status.in_(LIVE_SUBSCRIPTIONS),
        )
        .group_by(Subscription.offer_slug),
    )
    figures = [
        OfferFigures(
            view,
            offers[view.slug],
            paid_orders=orders.get(view.slug, 0),
            live_subscriptions=live.get(view.slug, 0),
            unmatched_paid=unmatched.get(view.slug, 0),
        )
        for view in views
    ]
    unknown = sum(count for slug, count in orders.items() if slug is None or slug not in offers)
    return OfferOverview(figures, unknown)


def offer_facts(figures: OfferFigures, *, detailed: bool) -> list[tuple[str, str]]:
    """Return an offer's settings and counts as (label, value) pairs, plain text, in order."""
    offer = figures.settings
    facts = [
        ("offer", figures.offer.slug),
        ("Stripe price", offer.price),
        ("mode", "subscription" if offer.mode == "subscription" else "one-time payment"),
        ("access", offer.access or "none"),
        ("members only", "yes" if offer.members_only else "no"),
        ("paid orders", str(figures.paid_orders)),
        ("live subscriptions", str(figures.live_subscriptions)),
        ("paid orders matched to no member", str(figures.unmatched_paid)),
    ]
    if detailed:
        facts[4:4] = [
            ("grace period", f"{offer.grace_days} days"),
            ("promotion codes", "allowed" if offer.allow_promotion_codes else "not allowed"),
            ("success page", offer.success_url or "Flywheel's thank-you page"),
            ("cancel page", offer.cancel_url or "Flywheel's canceled page"),
        ]
    return facts


async def billing_customer(session: AsyncSession, actor: Actor) -> str | None:
    """Return the member's Stripe customer: their own, else their latest order's or subscription's."""
    own = await session.scalar(
        select(Member.stripe_customer_id).where(Member.id == actor.member_id)
    )
    if own:
        return own
    latest_order = await session.scalar(
        select(Order.customer_id)
        .where(Order.member_id == actor.member_id, Order.customer_id.is_not(None))
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(1)
    )
    if latest_order:
        return latest_order
    latest_sub: str | None = await session.scalar(
        select(Subscription.customer_id)
        .where(Subscription.member_id == actor.member_id, Subscription.customer_id.is_not(None))
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
        .limit(1)
    )
    return latest_sub


async def open_portal(gateway: StripeGateway | None, customer: str, return_url: str) -> PortalLink:
    """Create a billing-portal session for a customer (stripe-python's errors pass through)."""
    if gateway is None:
        raise PaymentsUnavailable(NO_STRIPE)
    portal = await gateway.client.v1.billing_portal.sessions.create_async(
        params={"customer": customer, "return_url": return_url}
    )
    return PortalLink(portal.url)
