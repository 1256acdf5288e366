"""Payments: offers sold through Stripe Checkout, orders and subscriptions kept convergent
with Stripe whatever order its webhooks arrive in, and the paid access they give.

Rooms: :mod:`.offers` (what bot.toml sells), :mod:`.checkout` (buy links, Checkout
Sessions), :mod:`.billing` (the billing portal, owners' offer figures), :mod:`.access`
(entitlement → RoleChange), :mod:`.grace` (the job revoking access whose grace period
ended), :mod:`.rejoin` (paid access back on rejoining), :mod:`.why` (`/access why`),
:mod:`.claims` (`/link purchase`), :mod:`.reconcile` (repairing drift from Stripe's history), :mod:`.events` (``payment.recorded`` /
``payment.reversed``), :mod:`.data` (privacy and export), and the Stripe events in:
:mod:`.webhook` (record once, dispatch), :mod:`.orders` and :mod:`.subscriptions`
(order-proof convergence), :mod:`.matching`. Front ends use only what this module exports.
"""

from __future__ import annotations

from bot.events import MemberJoined
from bot.features import Feature, Job, Subscription
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
from bot.services.payments.claims import (
    ClaimAsked,
    ClaimConfirmed,
    claim_purchase,
    confirm_claim,
    member_of_identity,
    order_of_button,
)
from bot.services.payments.events import PaymentRecorded, PaymentReversed
from bot.services.payments.grace import GRACE_EVERY_SECONDS, grace_job
from bot.services.payments.offers import OfferView, find_offer, list_offers, view_of
from bot.services.payments.reconcile import (
    NIGHTLY_EVERY_SECONDS,
    ReconcileReport,
    nightly_job,
    reconcile,
)
from bot.services.payments.rejoin import restore_on_join
from bot.services.payments.webhook import apply_event, read_event
from bot.services.payments.why import AccessReport, explain_access, why_lines

__all__ = [
    "FEATURE",
    "NO_PURCHASE",
    "AccessChange",
    "AccessReport",
    "BuyLink",
    "Buyer",
    "CheckoutRequest",
    "ClaimAsked",
    "ClaimConfirmed",
    "Entitlement",
    "OfferFigures",
    "OfferOverview",
    "OfferView",
    "OpenedSession",
    "PaymentRecorded",
    "PaymentReversed",
    "PaymentsUnavailable",
    "PortalLink",
    "ReconcileReport",
    "apply_event",
    "billing_customer",
    "buy_links",
    "buyer_of",
    "checkout_request",
    "claim_purchase",
    "confirm_claim",
    "entitlements",
    "explain_access",
    "find_offer",
    "list_offers",
    "member_of_identity",
    "offer_facts",
    "offer_overview",
    "open_portal",
    "open_session",
    "order_of_button",
    "read_event",
    "reconcile",
    "record_opened",
    "refresh",
    "view_of",
    "why_lines",
]

FEATURE = Feature(
    name="payments",
    summary="Offers sold through Stripe Checkout, orders, subscriptions and paid access.",
    jobs=(
        Job("paid-access-grace", GRACE_EVERY_SECONDS, grace_job),
        Job("payments-reconcile", NIGHTLY_EVERY_SECONDS, nightly_job),
    ),
    subscriptions=(Subscription("payments.restore-on-join", MemberJoined, restore_on_join),),
    exporter=data.export_member,
    eraser=data.erase_member,
    merger=data.merge_members,
    export_tables=data.EXPORT_TABLES,
    member_tables=data.MEMBER_TABLES,
    anonymous_tables=data.ANONYMOUS_TABLES,
)
