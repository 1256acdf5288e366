"""Payments: offers sold through Stripe Checkout, orders and subscriptions kept convergent
with Stripe whatever order its webhooks arrive in, and the paid access they give.

Rooms: :mod:`.offers` (what bot.toml sells), :mod:`.checkout` (buy links, Checkout
Sessions), :mod:`.billing` (the billing portal, owners' offer figures), :mod:`.access` (entitlement → RoleChange),
:mod:`.events` (``payment.recorded`` / ``payment.reversed``) and :mod:`.data` (privacy and
export). Front ends use only what this module exports.
"""

from __future__ import annotations

from bot.features import Feature
from bot.services.payments import data
from bot.services.payments.access import AccessChange, Entitlement, entitlements, refresh
from bot.services.payments.billing import (
    NO_PURCHASE,
    OfferFigures,
    OfferOverview,
    PaymentsUnavailable,
    PortalLink,
    billing_customer,
    offer_facts,
    offer_overview,
    open_portal,
)
from bot.services.payments.checkout import (
    Buyer,
    BuyLink,
    CheckoutRequest,
    OpenedSession,
    buy_links,
    buyer_of,
    checkout_request,
    open_session,
    record_opened,
)
from bot.services.payments.events import PaymentRecorded, PaymentReversed
from bot.services.payments.offers import OfferView, find_offer, list_offers, view_of

__all__ = [
    "FEATURE",
    "NO_PURCHASE",
    "AccessChange",
    "BuyLink",
    "Buyer",
    "CheckoutRequest",
    "Entitlement",
    "OfferFigures",
    "OfferOverview",
    "OfferView",
    "OpenedSession",
    "PaymentRecorded",
    "PaymentReversed",
    "PaymentsUnavailable",
    "PortalLink",
    "billing_customer",
    "buy_links",
    "buyer_of",
    "checkout_request",
    "entitlements",
    "find_offer",
    "list_offers",
    "offer_facts",
    "offer_overview",
    "open_portal",
    "open_session",
    "record_opened",
    "refresh",
    "view_of",
]

FEATURE = Feature(
    name="payments",
    summary="Offers sold through Stripe Checkout, orders, subscriptions and paid access.",
    exporter=data.export_member,
    eraser=data.erase_member,
    merger=data.merge_members,
    export_tables=data.EXPORT_TABLES,
    member_tables=data.MEMBER_TABLES,
    anonymous_tables=data.ANONYMOUS_TABLES,
)
