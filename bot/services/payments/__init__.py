"""Payments: offers sold through Stripe Checkout, orders and subscriptions kept convergent
with Stripe whatever order its webhooks arrive in, and the paid access they give.

Rooms: :mod:`.offers` (what bot.toml sells), :mod:`.access` (entitlement → RoleChange),
:mod:`.events` (``payment.recorded`` / ``payment.reversed``), :mod:`.data` (privacy and
export), and the Stripe events in: :mod:`.webhook` (record once, dispatch), :mod:`.orders`
and :mod:`.subscriptions` (order-proof convergence), :mod:`.matching`. Front ends use only what this module exports.
"""

from __future__ import annotations

from bot.features import Feature
from bot.services.payments import data
from bot.services.payments.access import AccessChange, Entitlement, entitlements, refresh
from bot.services.payments.events import PaymentRecorded, PaymentReversed
from bot.services.payments.offers import OfferView, find_offer, list_offers, view_of
from bot.services.payments.webhook import apply_event, read_event

__all__ = [
    "FEATURE",
    "AccessChange",
    "Entitlement",
    "OfferView",
    "PaymentRecorded",
    "PaymentReversed",
    "apply_event",
    "entitlements",
    "find_offer",
    "list_offers",
    "read_event",
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
